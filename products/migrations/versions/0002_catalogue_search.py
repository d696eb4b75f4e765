"""catalogue search: trigram indexes on the name and the SKU

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in ("name", "sku"):
        op.create_index(
            f"products_{column}_trgm",
            "products",
            [column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )


def downgrade() -> None:
    for column in ("name", "sku"):
        op.drop_index(f"products_{column}_trgm", table_name="products")
