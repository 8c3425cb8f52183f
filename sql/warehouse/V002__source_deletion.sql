-- V002: the delete policy (README, "Reconciliation"), exactly as totes/star.py declares SOURCE_DELETION.
--
-- A bookmark on last_updated never sees a deleted source row; the ingestion job's reconciliation does, and the
-- pipeline then flags the row here instead of deleting anything: facts keep their history, and a dimension
-- row stays because facts may refer to it. Reports that want only rows the source still has exclude these:
--   WHERE NOT EXISTS (SELECT FROM source_deletion d
--                     WHERE d.source_table = 'payment' AND d.source_id = f.payment_id)
CREATE TABLE source_deletion (
    source_table      text    NOT NULL,
    source_id         integer NOT NULL,
    last_updated_date date    NOT NULL,  -- of the last version the pipeline ingested
    last_updated_time time(3) NOT NULL,
    detected_date     date    NOT NULL,  -- the source database's clock when the reconciliation started
    detected_time     time(3) NOT NULL,
    PRIMARY KEY (source_table, source_id)
);

COMMENT ON TABLE source_deletion IS
    'Source rows found deleted by a reconciliation; they stay in the facts and dimensions (never deleted).';
