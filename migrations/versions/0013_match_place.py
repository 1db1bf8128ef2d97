"""match_place: where the matcher looks first, kept up to date by triggers

Revision ID: 0013_match_place
Revises: 0012_venue_topics
Create Date: 2026-12-06 01:00:00

``match_place`` (``directory.models.MatchPlace``) holds, per programme and topic, a superset
of the places that may answer: the matcher walks it in distance order instead of every venue
(issue 12: at 20,000 venues a question read 580 venues to keep 60; a rare topic at 1,000,000
took a second). It is derived data: filled here from the catalogue, then refreshed by the
triggers below on every write of ``lieu``, ``lieu_stop``, ``acceptation`` and ``offre``, in
the writing transaction (the importer, the edits, the API and hand-written SQL alike).

``topic_service`` is the vocabulary's topic → service (``directory.vocabulary.TOPICS``) as it
is at this revision; a change of the vocabulary needs a migration that rewrites it and calls
``match_place_refresh`` on every venue (``tests/directory/test_match_place.py`` fails until
then).
"""
from alembic import op
from geoalchemy2 import Geometry
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0013_match_place'
down_revision = '0012_venue_topics'
branch_labels = None
depends_on = None

TOPICS = [
    ('numerique--prendre-en-main-un-smartphone-ou-une-tablette',
     'Maîtrise des outils numériques du quotidien'),
    ('numerique--prendre-en-main-un-ordinateur',
     'Maîtrise des outils numériques du quotidien'),
    ('numerique--envoyer-recevoir-gerer-ses-courriels',
     'Maîtrise des outils numériques du quotidien'),
    ('numerique--appeler-ses-proches-en-video',
     'Maîtrise des outils numériques du quotidien'),
    ('numerique--utiliser-le-numerique-au-quotidien',
     'Maîtrise des outils numériques du quotidien'),
    ('numerique--devenir-autonome-dans-les-demarches-administratives',
     'Aide aux démarches administratives'),
    ('numerique--realiser-des-demarches-administratives-avec-un-accompagnement',
     'Aide aux démarches administratives'),
    ('numerique--accompagner-les-demarches-de-sante',
     'Aide aux démarches administratives'),
    ('numerique--se-proteger-en-ligne',
     'Utilisation sécurisée du numérique'),
    ('numerique--favoriser-mon-insertion-professionnelle',
     'Insertion professionnelle via le numérique'),
    ('numerique--creer-et-developper-mon-entreprise',
     'Insertion professionnelle via le numérique'),
    ('numerique--soutenir-la-parentalite-et-l-education-avec-le-numerique',
     'Parentalité et éducation avec le numérique'),
    ('numerique--creer-avec-le-numerique',
     'Loisirs et créations numériques'),
    ('numerique--approfondir-ma-culture-numerique',
     'Compréhension du monde numérique'),
    ('numerique--promouvoir-la-citoyennete-numerique',
     'Compréhension du monde numérique'),
    ('numerique--acceder-a-une-connexion-internet',
     'Accès internet et matériel informatique'),
    ('numerique--acceder-a-du-materiel',
     'Accès internet et matériel informatique'),
    ('numerique--s-equiper-en-materiel-informatique',
     'Acquisition de matériel informatique à prix solidaire'),
]

REFRESH = """
CREATE OR REPLACE FUNCTION match_place_refresh(ids bigint[]) RETURNS void LANGUAGE plpgsql
-- Its statements are estimated in billions of rows (a join of unknown sets): JIT compiled
-- them for a second, longer than the refresh of 20,000 venues takes without it.
SET jit = off AS $$
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    -- The venues as a table the planner knows the size of: one edit reads a few rows by
    -- index, an import of 10⁵ venues joins by hash (``unnest(ids)`` is always guessed at 10
    -- rows, and ``= ANY (ids)`` searches the array linearly for each row).
    IF to_regclass('pg_temp.match_place_ids') IS NULL THEN
        CREATE TEMPORARY TABLE match_place_ids (id bigint PRIMARY KEY) ON COMMIT DELETE ROWS;
    ELSE
        DELETE FROM match_place_ids;
    END IF;
    INSERT INTO match_place_ids SELECT DISTINCT unnest(ids);
    ANALYZE match_place_ids;
    -- Two transactions refreshing one venue (an offer added here, an acceptance there) must
    -- not each write rows that miss the other's change: the second waits for the first, and
    -- its statements below then see what the first committed (READ COMMITTED takes a snapshot
    -- per statement).
    PERFORM 1 FROM match_place_ids x JOIN lieu l ON l.id = x.id ORDER BY l.id
        FOR NO KEY UPDATE OF l;
    -- A venue that accepts no programme has no row, and gets none (most venues, and every
    -- venue of an import until its acceptances are written).
    DELETE FROM match_place_ids x
     WHERE NOT EXISTS (SELECT 1 FROM acceptation a WHERE a.lieu_id = x.id)
       AND NOT EXISTS (SELECT 1 FROM match_place m WHERE m.lieu_id = x.id);
    ANALYZE match_place_ids;
    DELETE FROM match_place m USING match_place_ids x WHERE m.lieu_id = x.id;
    WITH venue AS (
        SELECT l.id, l.geom, l.opening_week, l.timezone, l.topics, l.services,
               EXISTS (SELECT 1 FROM offre o WHERE o.lieu_id = l.id AND o.active) AS has_offers
          FROM match_place_ids x JOIN lieu l ON l.id = x.id
         WHERE l.status <> 'closed'
    ), topic AS (
        SELECT id AS lieu_id, '' AS topic FROM venue
        UNION
        SELECT o.lieu_id, unnest(o.topics)
          FROM venue v JOIN offre o ON o.lieu_id = v.id AND o.active
        UNION
        SELECT v.id, unnest(v.topics) FROM venue v WHERE NOT v.has_offers
        UNION
        SELECT v.id, ts.topic
          FROM venue v JOIN topic_service ts ON ts.service = ANY (v.services)
         WHERE NOT v.has_offers
    )
    INSERT INTO match_place (programme_id, topic, lieu_id, stop_id, geom, opening_week, timezone)
    SELECT a.programme_id, t.topic, v.id, s.id, COALESCE(s.geom, v.geom),
           CASE WHEN s.id IS NULL THEN v.opening_week ELSE s.opening_week END, v.timezone
      FROM venue v
      JOIN (SELECT DISTINCT a.lieu_id, a.programme_id
              FROM match_place_ids x JOIN acceptation a ON a.lieu_id = x.id) a
        ON a.lieu_id = v.id
      JOIN topic t ON t.lieu_id = v.id
      LEFT JOIN lieu_stop s ON s.lieu_id = v.id
     WHERE COALESCE(s.geom, v.geom) IS NOT NULL;
END $$"""

# One trigger function per table: the venues whose rows may change, from the statement's
# transition tables (one refresh per statement, not per row: an import writes 10⁵ rows).
ON_WRITE = {
    # A new venue has no acceptance yet: only updates matter.
    'lieu': ("id", ("geom", "status", "topics", "services", "opening_week", "timezone")),
    'lieu_stop': ("lieu_id", ("lieu_id", "geom", "opening_week")),
    'acceptation': ("lieu_id", ("lieu_id", "programme_id")),
    'offre': ("lieu_id", ("lieu_id", "active", "topics")),
}


def _function(table: str) -> str:
    key, columns = ON_WRITE[table]
    new, old = (f"({', '.join(f'{alias}.{c}' for c in columns)})" for alias in ("n", "o"))
    return f"""
CREATE FUNCTION match_place_on_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM match_place_refresh(ARRAY(SELECT DISTINCT {key} FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM match_place_refresh(ARRAY(SELECT DISTINCT {key} FROM old_rows));
    ELSE
        PERFORM match_place_refresh(ARRAY(
            SELECT DISTINCT x FROM new_rows n JOIN old_rows o ON o.id = n.id,
                   LATERAL (VALUES (n.{key}), (o.{key})) v(x)
             WHERE {new} IS DISTINCT FROM {old}));
    END IF;
    RETURN NULL;
END $$"""


def _triggers(table: str) -> list[str]:
    events = ['UPDATE'] if table == 'lieu' else ['INSERT', 'UPDATE', 'DELETE']
    tables = {'INSERT': 'NEW TABLE AS new_rows', 'DELETE': 'OLD TABLE AS old_rows',
              'UPDATE': 'OLD TABLE AS old_rows NEW TABLE AS new_rows'}
    statements = [
        f"CREATE TRIGGER match_place_{table}_{event.lower()} AFTER {event} ON {table} "
        f"REFERENCING {tables[event]} FOR EACH STATEMENT "
        f"EXECUTE FUNCTION match_place_on_{table}()" for event in events]
    if table != 'lieu':  # TRUNCATE lieu empties match_place through its foreign key
        statements.append(
            f"CREATE TRIGGER match_place_{table}_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION match_place_refresh_all()")
    return statements


def upgrade():
    op.create_table('topic_service',
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('service', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('topic', name=op.f('pk_topic_service'))
    )
    op.bulk_insert(sa.table('topic_service', sa.column('topic'), sa.column('service')),
                   [{'topic': t, 'service': s} for t, s in TOPICS])
    op.create_table('match_place',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('lieu_id', sa.BigInteger(), nullable=False),
    sa.Column('stop_id', sa.BigInteger(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=False),
    sa.Column('opening_week', postgresql.INT4MULTIRANGE(), nullable=True),
    sa.Column('timezone', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['lieu_id'], ['lieu.id'], name=op.f('fk_match_place_lieu_id_lieu'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_match_place_programme_id_programme'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['stop_id'], ['lieu_stop.id'], name=op.f('fk_match_place_stop_id_lieu_stop'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_place'))
    )
    with op.batch_alter_table('match_place', schema=None) as batch_op:
        batch_op.create_index('ix_match_place_knn', ['programme_id', 'topic', 'geom'], unique=False, postgresql_using='gist')
        batch_op.create_index(batch_op.f('ix_match_place_lieu_id'), ['lieu_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_place_stop_id'), ['stop_id'], unique=False)

    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(REFRESH)
    op.execute("""
        CREATE FUNCTION match_place_refresh_all() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM match_place_refresh(ARRAY(SELECT id FROM lieu));
            RETURN NULL;
        END $$""")
    for table in ON_WRITE:
        op.execute(_function(table))
        for statement in _triggers(table):
            op.execute(statement)
    op.execute("SELECT match_place_refresh(ARRAY(SELECT id FROM lieu))")


def downgrade():
    for table in ON_WRITE:
        for event in ('insert', 'update', 'delete', 'truncate'):
            op.execute(f"DROP TRIGGER IF EXISTS match_place_{table}_{event} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS match_place_on_{table}()")
    op.execute("DROP FUNCTION IF EXISTS match_place_refresh_all()")
    op.execute("DROP FUNCTION IF EXISTS match_place_refresh(bigint[])")
    with op.batch_alter_table('match_place', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_match_place_stop_id'))
        batch_op.drop_index(batch_op.f('ix_match_place_lieu_id'))
        batch_op.drop_index('ix_match_place_knn', postgresql_using='gist')
    op.drop_table('match_place')
    op.drop_table('topic_service')
