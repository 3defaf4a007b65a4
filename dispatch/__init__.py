"""Cases, categories, routing, the workflow, users and roles (built on grids).

``workflow.perform`` is the one function that changes a case; ``access`` says who sees what.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register login, the cases API, pages and commands."""
    from flask import jsonify

    from core.errors import error_body
    from dispatch import api, auth, cli, pages, views
    from dispatch.errors import WorkflowError

    app.config.setdefault("AUTO_DISPATCH", True)
    auth.init_app(app)
    from grids.views import bp as grids_bp

    # The grid API's POSTs (locate) check CSRF in auth.api_user, like ours.
    auth.exempt_api(grids_bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(pages.bp)
    from dispatch.notifications import views as inbox_views  # inbox page, API, header badge

    inbox_views.init_app(app)
    app.cli.add_command(cli.dispatch_cli)
    from dispatch.sla import calendar_pages
    from dispatch.sla.cli import sla_cli

    calendar_pages.init_app(app)  # the calendar page, its banner and its /healthz check
    app.cli.add_command(sla_cli)
    from dispatch.jobs.cli import jobs_cli

    app.cli.add_command(jobs_cli)  # worker, scheduler, one-off sweep and pump
    from dispatch import open311, tracking

    tracking.init_app(app)  # the public progress look-up (/track and its API endpoint)
    open311.init_app(app)  # Open311 GeoReport v2 at /open311/v2/, key admin and commands
    from dispatch import insight

    insight.init_app(app)  # dashboard, wall screen, performance evaluation (/insight)
    from dispatch import supervise

    supervise.init_app(app)  # the supervisor's workspace: overdue review, approvals, map
    from dispatch import inspector

    inspector.init_app(app)  # the inspector's phone pages, photos, offline outbox, flags

    # Grid pages and API show officers' phones: logged-in users only (grids cannot import us).
    @app.before_request
    def _grids_need_login():  # type: ignore[no-untyped-def]
        from flask import request

        if request.blueprint != "grids":
            return None
        if request.path.startswith("/api/"):
            auth.api_user()
            return None
        return auth.login_required_page(lambda: None)()

    @app.errorhandler(WorkflowError)
    def _workflow_error(exc: WorkflowError):  # type: ignore[no-untyped-def]
        body = error_body(exc.code, exc.message, exc.fields)
        body["error"].update(exc.extra)
        return jsonify(body), exc.status
