"""Pages Bridgehead serves to people: document pages (and, later, login, consent and admin)."""
