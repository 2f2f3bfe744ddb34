"""A change may point at its record's current geometry instead of holding a copy
(``report_changes.geom_in_current``): an import of new records writes each geometry once.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE ADD COLUMN: a batch (table copy) would drop the R*Tree triggers
    op.add_column(
        "report_changes",
        sa.Column("geom_in_current", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # the pointed-at geometry goes back into the changes before the column goes
    for kind, table in (
        ("hazard_area", "hazard_areas"),
        ("admin_area", "admin_areas"),
        ("outcome", "outcomes"),
        ("activity", "activities"),
        ("device", "devices"),
    ):
        op.execute(
            f"UPDATE report_changes SET geom = (SELECT c.geom FROM {table} AS c "
            "WHERE c.record_id = report_changes.record_id) "
            f"WHERE geom_in_current AND kind = '{kind}'"
        )
    with op.batch_alter_table("report_changes") as batch:
        batch.drop_column("geom_in_current")
