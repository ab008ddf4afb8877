"""What pyproject.toml cannot say: the wheel ships the top-level `alembic/` folder (the migrations, where
alembic.ini and `alembic upgrade head` find them in a checkout) as `training/registry/migration_scripts/`, where
`training.registry.migrations` finds them in an installed wheel. Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

MIGRATION_SCRIPTS = "training.registry.migration_scripts"

setup(
    packages=[
        *find_packages(include=["training*", "service*"]),
        MIGRATION_SCRIPTS,
        f"{MIGRATION_SCRIPTS}.versions",
    ],
    # alembic/ itself has no __init__.py: in a checkout it would shadow the alembic library on sys.path.
    package_dir={MIGRATION_SCRIPTS: "alembic"},
    # Its script.py.mako is package data: pyproject.toml's [tool.setuptools.package-data].
)
