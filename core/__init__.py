"""Infrastructure shared by every feature package: config, database, column types, i18n.

``core.factory.create_app`` is the composition root; feature packages import ``core.db`` and
``core.types`` but never the factory.
"""
