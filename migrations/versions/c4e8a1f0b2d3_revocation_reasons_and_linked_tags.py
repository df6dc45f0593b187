"""Keep why each token was revoked; refuse deleting a tag that is still linked

Revision ID: c4e8a1f0b2d3
Revises: b71c2d9e4f10
Create Date: 2026-12-01 16:30:00.000000

- revoked_tokens.reason tells a refresh token that was rotated (whose reuse
  revokes its family) from one that was logged out. Existing entries become
  "logout": none of them is then taken for a reuse.
- items_tags.tag_id loses ON DELETE CASCADE, so the database refuses to
  delete a linked tag instead of dropping links created a moment before.
  Without an ON DELETE action the check runs at the end of the statement,
  after the cascades of a store's delete have removed the links.

Downgrading keeps the rows but not their meaning: the code before this
revision reads only a token's own id, so token families revoked after a
reuse (rows with reason "reused") are valid again until they expire. After a
downgrade, revoke those users' tokens (logout-all) if that matters.
"""

import sqlalchemy as sa
from alembic import op

revision = "c4e8a1f0b2d3"
down_revision = "b71c2d9e4f10"
branch_labels = None
depends_on = None

FK = "fk_items_tags_tag_id_tags"


def upgrade():
    op.add_column(
        "revoked_tokens",
        sa.Column(
            "reason", sa.String(length=16), server_default="logout", nullable=False
        ),
    )
    # SQLite cannot alter a constraint: batch mode copies items_tags (which
    # has no expression index to lose) with the new foreign key.
    with op.batch_alter_table("items_tags") as batch:
        batch.drop_constraint(FK, type_="foreignkey")
        batch.create_foreign_key(FK, "tags", ["tag_id"], ["id"])


def downgrade():
    with op.batch_alter_table("items_tags") as batch:
        batch.drop_constraint(FK, type_="foreignkey")
        batch.create_foreign_key(FK, "tags", ["tag_id"], ["id"], ondelete="CASCADE")
    op.drop_column("revoked_tokens", "reason")
