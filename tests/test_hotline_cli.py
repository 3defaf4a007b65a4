"""``flask hotline …`` and the demo start: the gazetteer and answers load once; imports report."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import database
from hotline.models import GazetteerEntry, KnowledgeEntry
from tests.conftest import make_test_app


def test_demo_start_loads_the_gazetteer_and_answers_once(tmp_path: Path) -> None:
    app = make_test_app(f"sqlite:///{tmp_path / 'start.sqlite3'}")
    runner = app.test_cli_runner()
    with app.app_context():  # as the ``flask`` command gives it
        first = runner.invoke(args=["start", "--no-serve"])
    assert first.exit_code == 0, first.output
    with app.app_context(), database(app).new_session() as sess:
        places = sess.scalar(select(func.count()).select_from(GazetteerEntry))
        answers = sess.scalar(select(func.count()).select_from(KnowledgeEntry))
        kinds = set(sess.scalars(select(GazetteerEntry.kind).distinct()))
    assert places > 500 and answers == 4
    assert kinds == {"district", "street", "community", "road", "landmark"}
    with app.app_context():
        again = runner.invoke(args=["start", "--no-serve"])
    assert again.exit_code == 0, again.output
    with app.app_context(), database(app).new_session() as sess:
        assert sess.scalar(select(func.count()).select_from(GazetteerEntry)) == places
        assert sess.scalar(select(func.count()).select_from(KnowledgeEntry)) == answers
    database(app).engine.dispose()


def test_import_gazetteer_command_reports_and_converts(
    runner: FlaskCliRunner, db_session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "places.csv"
    path.write_text(
        "name,kind,lng,lat,parent\n测试命令地标,landmark,112.6,26.9,石鼓区\n错行,planet,1,1,\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["hotline", "import-gazetteer", str(path), "--crs", "bd09"])
    assert result.exit_code == 0, result.output
    assert "1 added, 0 updated, 1 skipped" in result.output
    assert "line 3: unknown kind 'planet'" in result.output
    entry = db_session.scalar(select(GazetteerEntry).where(GazetteerEntry.name == "测试命令地标"))
    # BD-09 is about 1.2 km off WGS-84 here: the stored point moved accordingly.
    assert abs(entry.lng - 112.6) > 0.005 and entry.source == "import:places.csv"
