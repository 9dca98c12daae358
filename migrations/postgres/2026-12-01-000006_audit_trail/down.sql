-- Forgets the audit trail.
DROP TABLE audit_heads;
DROP TABLE audit_events;
