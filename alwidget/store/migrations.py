"""Versioned schema migrations of the alwidget store.

Each entry of :data:`MIGRATIONS` is one SQL script. Migration ``i`` (1-based)
moves a database from ``PRAGMA user_version = i - 1`` to ``i``; it runs inside
one transaction together with the version bump, so a database is never left
between two versions. Never edit a released migration: append a new one.

The schema holds the two databases of the data-centric framework in one file:

* the **Audio DB** (``projects``, ``sources``, ``node_types``, ``nodes``,
  ``paths``, ``ontology``, ``labelers``, ``audios``, ``chunks``);
* the **AL DB** (``al_iterations``, the framework's "ALPreprocessing", and
  ``proposals``, its "WavsProposed");
* what the learner needs: ``clips``, ``feature_sets``, ``features``, the
  append-only ``label_events`` (labels, skips, undos) and the
  ``active_events`` and ``current_labels`` views over them;
* the ingest log: ``ingest_errors``, and what ingest listed: ``listed_files`` and
  ``listed_folders`` (so that a re-run lists only what changed);
* each file's levels for node health: ``audio_levels``.
"""

MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        latitude REAL,
        longitude REAL,
        description TEXT
    );
    CREATE TABLE node_types (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT
    );
    CREATE TABLE nodes (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        source_id INTEGER REFERENCES sources(id),
        node_type_id INTEGER REFERENCES node_types(id)
    );
    CREATE TABLE paths (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        project_id INTEGER REFERENCES projects(id)
    );
    CREATE TABLE ontology (
        id INTEGER PRIMARY KEY,
        tag TEXT NOT NULL UNIQUE,
        parent_id INTEGER REFERENCES ontology(id),
        suggested INTEGER NOT NULL DEFAULT 0 CHECK (suggested IN (0, 1)),
        description TEXT
    );
    CREATE TABLE labelers (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        is_expert INTEGER NOT NULL DEFAULT 1 CHECK (is_expert IN (0, 1))
    );
    CREATE TABLE audios (
        id INTEGER PRIMARY KEY,
        path_id INTEGER NOT NULL REFERENCES paths(id),
        file_name TEXT NOT NULL,
        sample_rate INTEGER NOT NULL CHECK (sample_rate > 0),
        bits_per_sample INTEGER,
        duration_s REAL NOT NULL CHECK (duration_s > 0),
        frames INTEGER NOT NULL CHECK (frames > 0),
        channels INTEGER NOT NULL CHECK (channels > 0),
        format TEXT,
        subtype TEXT,
        node_id INTEGER REFERENCES nodes(id),
        recorded_at TEXT,
        content_hash TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        ingested_at TEXT NOT NULL,
        UNIQUE (path_id, file_name)
    );
    CREATE INDEX audios_content_hash ON audios(content_hash);
    CREATE INDEX audios_node_recorded ON audios(node_id, recorded_at);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        audio_id INTEGER NOT NULL REFERENCES audios(id),
        tag_id INTEGER NOT NULL REFERENCES ontology(id),
        labeler_id INTEGER REFERENCES labelers(id),
        onset_s REAL,
        offset_s REAL,
        created_at TEXT NOT NULL,
        CHECK (onset_s IS NULL OR onset_s >= 0),
        CHECK (offset_s IS NULL OR onset_s IS NULL OR offset_s > onset_s)
    );
    CREATE INDEX chunks_audio ON chunks(audio_id);
    CREATE TABLE clips (
        id INTEGER PRIMARY KEY,
        audio_id INTEGER NOT NULL REFERENCES audios(id),
        start_s REAL NOT NULL CHECK (start_s >= 0),
        duration_s REAL NOT NULL CHECK (duration_s > 0),
        UNIQUE (audio_id, start_s, duration_s)
    );
    CREATE TABLE feature_sets (
        id INTEGER PRIMARY KEY,
        extractor TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        config TEXT NOT NULL,
        dim INTEGER NOT NULL CHECK (dim > 0),
        created_at TEXT NOT NULL,
        UNIQUE (extractor, config_hash)
    );
    CREATE TABLE features (
        clip_id INTEGER NOT NULL REFERENCES clips(id),
        feature_set_id INTEGER NOT NULL REFERENCES feature_sets(id),
        vector BLOB NOT NULL,
        PRIMARY KEY (feature_set_id, clip_id)
    ) WITHOUT ROWID;
    CREATE TABLE al_iterations (
        id INTEGER PRIMARY KEY,
        project_id INTEGER REFERENCES projects(id),
        window_start TEXT,
        window_end TEXT,
        n_audios INTEGER,
        n_folds INTEGER,
        labeled_share REAL CHECK (labeled_share IS NULL OR labeled_share BETWEEN 0 AND 1),
        strategy TEXT NOT NULL,
        params TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE proposals (
        id INTEGER PRIMARY KEY,
        iteration_id INTEGER NOT NULL REFERENCES al_iterations(id),
        clip_id INTEGER NOT NULL REFERENCES clips(id),
        status TEXT NOT NULL CHECK (status IN ('proposed', 'medoid', 'discarded')),
        label TEXT,
        n_labelers INTEGER NOT NULL DEFAULT 0,
        agreement REAL CHECK (agreement IS NULL OR agreement BETWEEN 0 AND 1),
        UNIQUE (iteration_id, clip_id)
    );
    CREATE TABLE label_events (
        id INTEGER PRIMARY KEY,
        clip_id INTEGER NOT NULL REFERENCES clips(id),
        kind TEXT NOT NULL DEFAULT 'label' CHECK (kind IN ('label', 'skip', 'undo')),
        label TEXT REFERENCES ontology(tag),
        labeler_id INTEGER REFERENCES labelers(id),
        created_at TEXT NOT NULL,
        strategy TEXT,
        reason TEXT,
        model_version INTEGER,
        predicted_proba REAL,
        undoes INTEGER REFERENCES label_events(id),
        CHECK ((kind = 'label') = (label IS NOT NULL)),
        CHECK ((kind = 'undo') = (undoes IS NOT NULL))
    );
    CREATE INDEX label_events_clip ON label_events(clip_id);
    CREATE UNIQUE INDEX label_events_undoes ON label_events(undoes);
    -- Decisions are never updated or deleted: an undo is a new event.
    CREATE TRIGGER label_events_no_update BEFORE UPDATE ON label_events
    BEGIN SELECT RAISE(ABORT, 'label_events is append-only: add an undo event instead'); END;
    CREATE TRIGGER label_events_no_delete BEFORE DELETE ON label_events
    BEGIN SELECT RAISE(ABORT, 'label_events is append-only: add an undo event instead'); END;
    -- Decisions (labels and skips) still in force: not undone, not undo events themselves.
    CREATE VIEW active_events AS
    SELECT e.* FROM label_events e
    WHERE e.kind != 'undo'
      AND NOT EXISTS (SELECT 1 FROM label_events u WHERE u.undoes = e.id);
    -- The current label of a clip per labeler: its newest label event in force.
    CREATE VIEW current_labels AS
    SELECT e.clip_id, e.labeler_id, e.label, e.id AS event_id, e.created_at,
           e.strategy, e.reason, e.model_version, e.predicted_proba
    FROM active_events e
    WHERE e.kind = 'label'
      AND e.id = (SELECT MAX(e2.id) FROM active_events e2
                  WHERE e2.clip_id = e.clip_id AND e2.labeler_id IS e.labeler_id
                    AND e2.kind = 'label');
    CREATE TABLE ingest_errors (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        UNIQUE (path, reason)
    );
    """,
    # 2: pseudo-labels (kept apart from human labels) and simulated experiments
    """
    CREATE TABLE pseudo_labels (
        id INTEGER PRIMARY KEY,
        clip_id INTEGER NOT NULL REFERENCES clips(id),
        label TEXT NOT NULL REFERENCES ontology(tag),
        strategy TEXT NOT NULL,
        model_version INTEGER,
        probability REAL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX pseudo_labels_clip ON pseudo_labels(clip_id);
    CREATE TABLE experiments (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        params TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE experiment_records (
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        target TEXT NOT NULL,
        strategy TEXT NOT NULL,
        fold TEXT NOT NULL,
        seed INTEGER NOT NULL,
        iteration INTEGER NOT NULL,
        n_labels INTEGER NOT NULL,
        f1 REAL NOT NULL,
        threshold REAL NOT NULL,
        query_positive INTEGER,
        n_pseudo INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (experiment_id, target, strategy, fold, seed, iteration)
    ) WITHOUT ROWID;
    """,
    # 3: 2-d maps of a feature set (UMAP, t-SNE, PCA), cached across kernel restarts
    """
    CREATE TABLE projections (
        id INTEGER PRIMARY KEY,
        feature_set_id INTEGER NOT NULL REFERENCES feature_sets(id),
        method TEXT NOT NULL,
        params_hash TEXT NOT NULL,
        params TEXT NOT NULL,
        n_clips INTEGER NOT NULL,
        n_fit INTEGER NOT NULL,
        clip_ids BLOB NOT NULL,
        coords BLOB NOT NULL,
        fingerprint TEXT NOT NULL,   -- hash of the clip ids and vectors the map covers
        fit_id TEXT NOT NULL,        -- which fit: the model file beside the database must match
        seconds REAL,
        created_at TEXT NOT NULL,
        UNIQUE (feature_set_id, method, params_hash)
    );
    -- Pseudo-labels a session trained on after a decision (semi-supervised AL), so a
    -- resumed session trains on the same set: linked to the decision's label event.
    ALTER TABLE pseudo_labels ADD COLUMN event_id INTEGER REFERENCES label_events(id);
    CREATE INDEX pseudo_labels_event ON pseudo_labels(event_id);
    """,
    # 4: group decisions (one undo takes a group back), sessions that claim the clip they
    #    show (several kernels on one database), the column names of a feature set (a tagger's
    #    classes), and what a simulated experiment ran on and picked
    """
    ALTER TABLE label_events ADD COLUMN group_id INTEGER REFERENCES label_events(id);
    CREATE INDEX label_events_group ON label_events(group_id) WHERE group_id IS NOT NULL;
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,             -- random, one per Session object
        labeler_id INTEGER REFERENCES labelers(id),
        process TEXT NOT NULL,           -- host:pid (a kernel)
        clip_id INTEGER REFERENCES clips(id),  -- the clip it shows now, NULL for none
        started_at TEXT NOT NULL,
        seen_at TEXT NOT NULL
    );
    CREATE INDEX sessions_clip ON sessions(clip_id);
    ALTER TABLE feature_sets ADD COLUMN columns TEXT;  -- JSON list of names, or NULL
    ALTER TABLE experiments ADD COLUMN features TEXT;  -- e.g. "logmel:1a2b3c4d5e6f7a8b"
    ALTER TABLE experiment_records ADD COLUMN picked INTEGER;  -- data row queried after the fit
    """,
    # 5: file paths that are not valid UTF-8 (legacy Latin-1 names from old recorders and
    #    Windows shares), kept losslessly as the bytes of the whole path; ``paths.path`` and
    #    ``audios.file_name`` then hold a display form (undecodable bytes shown as escapes)
    """
    ALTER TABLE audios ADD COLUMN raw_path BLOB;
    CREATE INDEX audios_raw_path ON audios(raw_path) WHERE raw_path IS NOT NULL;
    """,
    # 6: where a decision or a strong event came from (NULL: made in alwidget; else e.g.
    #    "raven:calls.Table.1.selections.txt"), saved models (their card), and a saved
    #    model's detections over the archive (one row per model and clip, apart from labels)
    """
    ALTER TABLE label_events ADD COLUMN source TEXT;
    ALTER TABLE chunks ADD COLUMN source TEXT;
    CREATE TABLE models (
        id TEXT PRIMARY KEY,             -- the saved model's id (in its card)
        feature_set_id INTEGER REFERENCES feature_sets(id),
        card TEXT NOT NULL,              -- the model card (JSON)
        created_at TEXT NOT NULL
    );
    CREATE TABLE detections (
        model_id TEXT NOT NULL REFERENCES models(id),
        clip_id INTEGER NOT NULL REFERENCES clips(id),
        label TEXT NOT NULL,             -- the class scored: the target, or the top class
        score REAL NOT NULL,             -- its probability
        created_at TEXT NOT NULL,
        PRIMARY KEY (model_id, clip_id)
    ) WITHOUT ROWID;
    """,
    # 7: the framework's team: groups of labelers, the proposals assigned to each, the round
    #    an annotation was made for and the events it holds (several per clip), doubt-
    #    resolution rounds, the ontology's AudioSet ids and the classes labelers suggest
    """
    CREATE TABLE labeler_groups (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    );
    CREATE TABLE group_members (
        labeler_id INTEGER PRIMARY KEY REFERENCES labelers(id),  -- one group per labeler
        group_id INTEGER NOT NULL REFERENCES labeler_groups(id)
    );
    CREATE TABLE team_settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL              -- JSON
    ) WITHOUT ROWID;
    ALTER TABLE al_iterations ADD COLUMN kind TEXT NOT NULL DEFAULT 'round'
        CHECK (kind IN ('round', 'doubt'));
    ALTER TABLE al_iterations ADD COLUMN nodes TEXT;  -- JSON list of node names; NULL: all
    CREATE TABLE assignments (
        iteration_id INTEGER NOT NULL REFERENCES al_iterations(id),
        clip_id INTEGER NOT NULL REFERENCES clips(id),
        labeler_id INTEGER NOT NULL REFERENCES labelers(id),
        group_id INTEGER REFERENCES labeler_groups(id),
        PRIMARY KEY (iteration_id, clip_id, labeler_id)
    ) WITHOUT ROWID;
    CREATE INDEX assignments_labeler ON assignments(labeler_id, iteration_id);
    ALTER TABLE label_events ADD COLUMN iteration_id INTEGER REFERENCES al_iterations(id);
    CREATE INDEX label_events_iteration ON label_events(iteration_id)
        WHERE iteration_id IS NOT NULL;
    ALTER TABLE chunks ADD COLUMN event_id INTEGER REFERENCES label_events(id);
    CREATE INDEX chunks_event ON chunks(event_id) WHERE event_id IS NOT NULL;
    ALTER TABLE ontology ADD COLUMN mid TEXT;         -- AudioSet id, e.g. /m/015p6
    ALTER TABLE ontology ADD COLUMN from_round INTEGER;  -- suggested: selectable from it
    CREATE TABLE class_suggestions (
        id INTEGER PRIMARY KEY,
        tag TEXT NOT NULL,
        parent TEXT,
        description TEXT,
        labeler_id INTEGER NOT NULL REFERENCES labelers(id),
        created_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'accepted', 'rejected')),
        reviewer TEXT,
        decided_at TEXT
    );
    """,
    # 8: recording nodes and object storage: the deployment (sources, node types, nodes with
    #    their location, sample rate, gain, installation dates and expected recording; the
    #    folders or object prefixes of each node), what ingest listed (so a re-run reads only
    #    new or changed files and objects), and each file's levels (node health)
    """
    ALTER TABLE sources ADD COLUMN created_at TEXT;
    ALTER TABLE node_types ADD COLUMN created_at TEXT;
    ALTER TABLE nodes ADD COLUMN location TEXT;
    ALTER TABLE nodes ADD COLUMN latitude REAL;
    ALTER TABLE nodes ADD COLUMN longitude REAL;
    ALTER TABLE nodes ADD COLUMN sample_rate INTEGER CHECK (sample_rate IS NULL OR sample_rate > 0);
    ALTER TABLE nodes ADD COLUMN gain_db REAL;
    ALTER TABLE nodes ADD COLUMN installed_at TEXT;
    ALTER TABLE nodes ADD COLUMN removed_at TEXT;
    ALTER TABLE nodes ADD COLUMN file_seconds REAL CHECK (file_seconds IS NULL OR file_seconds > 0);
    ALTER TABLE nodes ADD COLUMN duty_cycle REAL
        CHECK (duty_cycle IS NULL OR (duty_cycle > 0 AND duty_cycle <= 1));
    ALTER TABLE nodes ADD COLUMN description TEXT;
    ALTER TABLE paths ADD COLUMN node_id INTEGER REFERENCES nodes(id);
    CREATE TABLE listed_files (
        location BLOB PRIMARY KEY,       -- an object's URL, or a local file's resolved path (bytes)
        size_bytes INTEGER NOT NULL,
        version TEXT NOT NULL,           -- the object's ETag, or a local file's mtime_ns:inode
        modified_at TEXT,
        audio_id INTEGER NOT NULL REFERENCES audios(id),
        listed_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX listed_files_audio ON listed_files(audio_id);
    CREATE TABLE audio_levels (
        audio_id INTEGER PRIMARY KEY REFERENCES audios(id),
        frame_s REAL NOT NULL CHECK (frame_s > 0),   -- levels are measured per frame
        n_frames INTEGER NOT NULL CHECK (n_frames >= 0),
        silent_frames INTEGER NOT NULL,  -- RMS below the silence level (see nodes/health.py)
        clipped_frames INTEGER NOT NULL, -- a sample at full scale
        rms_db REAL,                     -- of the whole file, dBFS
        peak_db REAL,
        histogram BLOB NOT NULL          -- frames per RMS level bin (uint32; bins in health.py)
    );
    """,
    # 9: the local folders ingest listed, with their modification time when it did: a re-run
    #    does not list a folder again while it is unchanged (adding, removing or renaming an
    #    entry changes a folder's modification time)
    """
    CREATE TABLE listed_folders (
        location BLOB PRIMARY KEY,       -- the folder as ingest reached it (absolute path, bytes)
        resolved BLOB NOT NULL,          -- os.path.realpath of location (where its files are)
        mtime_ns INTEGER NOT NULL,       -- when it was listed; -1: list it again next time
        inode INTEGER NOT NULL,
        device INTEGER NOT NULL,
        listed_at TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 10: a folder of object storage remembers the greatest key a complete listing of its
    #     own objects found (a re-run lists it from after that key, whatever prefix was given);
    #     a failed file remembers its size and version and how often it was tried (a re-run
    #     tries it again only a few times, or when it changed)
    """
    ALTER TABLE listed_folders ADD COLUMN last_key BLOB;  -- NULL: list the folder whole
    ALTER TABLE ingest_errors ADD COLUMN size_bytes INTEGER;
    ALTER TABLE ingest_errors ADD COLUMN version TEXT;
    ALTER TABLE ingest_errors ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
    """,
    # 11: a file stored while it may still have been written (a local file modified within
    #     ingest's settle time) keeps the SHA-256 of what it held past its header: a re-run
    #     stores it again whole only while that part is unchanged (it grew, nothing else)
    """
    ALTER TABLE listed_files ADD COLUMN growing_hash TEXT;  -- NULL: settled when stored
    """,
    # 12: the team's and the nodes' lookups by clip and by time (these indexes were once
    #     written into migration 7 after it had shipped, so databases migrated to 7 before
    #     then lack them; migration 7 is back to what shipped, and every database gets them here)
    """
    CREATE INDEX IF NOT EXISTS assignments_clip ON assignments(clip_id);
    CREATE INDEX IF NOT EXISTS proposals_clip ON proposals(clip_id);
    CREATE INDEX IF NOT EXISTS proposals_open ON proposals(clip_id) WHERE status = 'proposed';
    CREATE INDEX IF NOT EXISTS audios_recorded ON audios(recorded_at);
    """,
]
