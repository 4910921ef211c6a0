"""The audit trail: every tools/call, allowed or denied, with its full (redacted) JSON payloads."""

from bridgehead.audit.log import AuditLog
from bridgehead.audit.records import AuditEvent, Redactor

__all__ = ["AuditEvent", "AuditLog", "Redactor"]
