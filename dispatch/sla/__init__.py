"""SLA: working-time calendar, stage timers, the escalation sweep."""
