"""The audit log: every change an admin makes (``audit_event``, written by the services that make
the change, in the same transaction) and every view of a firm's evaluation (``access_log``),
read together newest first by admins."""
