"""Cases, categories, routing, the workflow, SLA timers, users and roles (built on grids)."""
