"""Authentication: Bridgehead's OAuth 2.1 authorization server, token verification and users."""
