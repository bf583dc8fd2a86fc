-- 0011 console summaries (issue 10): what the reports and the people search
-- read instead of counting every request or scanning every person.
--
-- Trigger bodies put `;` at the start of a line: the migration runner ends a
-- statement at a line that ends with `;` (core::migrate::statements).
--
-- A week is the Monday 00:00 UTC that starts it (1970-01-05 was a Monday):
-- t - ((t - 345600) % 604800 + 604800) % 604800, written out below because
-- SQLite has no functions of our own (the same as reports::week_start).

-- Owner: tickets. Requests opened (by created_at) and resolved (by
-- resolved_at) per week; kept by the triggers on tickets below, in the
-- transaction of the change.
CREATE TABLE report_weeks (
    week     INTEGER PRIMARY KEY,
    opened   INTEGER NOT NULL DEFAULT 0,
    resolved INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Owner: tickets. One row per request and clock (kind 0: first response,
-- kind 1: resolution) while the request has that time, kept by the triggers
-- on tickets. The durations (wall-clock and in working hours) and their
-- histogram buckets are counted in Rust (reports::stamp, the working clock
-- needs the `working_hours` variable, which SQL cannot know); `hours` names
-- the working hours they were counted with (NULL: not yet). A report first
-- stamps the rows whose `hours` is not the current one, so a new request, a
-- changed `working_hours` and the rows of this migration are all counted
-- the same way.
CREATE TABLE ticket_clocks (
    ticket_id  TEXT NOT NULL,
    kind       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    hours      INTEGER,
    wall_s     INTEGER,
    work_s     INTEGER,
    wall_b     INTEGER,
    work_b     INTEGER,
    PRIMARY KEY (ticket_id, kind)
) STRICT, WITHOUT ROWID;
CREATE INDEX ticket_clocks_hours ON ticket_clocks (hours);
-- A percentile inside one histogram bucket: the bucket's rows in value order.
CREATE INDEX ticket_clocks_wall ON ticket_clocks (kind, wall_b, wall_s, created_at);
CREATE INDEX ticket_clocks_work ON ticket_clocks (kind, work_b, work_s, created_at);

-- Owner: tickets. How many stamped clocks of each kind fall in each bucket,
-- per week of the request's creation (measure 0: wall-clock, 1: working
-- hours); kept by the triggers on ticket_clocks. Buckets are exact below 16 s
-- and 8 per doubling above (reports::bucket).
CREATE TABLE report_clock_hist (
    kind    INTEGER NOT NULL,
    measure INTEGER NOT NULL,
    bucket  INTEGER NOT NULL,
    week    INTEGER NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (kind, measure, bucket, week)
) STRICT, WITHOUT ROWID;

-- Owner: tickets. Ratings per week, month (of the rating, UTC) and topic of
-- the rated request ('' when the request is gone), with their score sum.
CREATE TABLE report_ratings (
    week            INTEGER NOT NULL,
    month           TEXT NOT NULL,
    request_type_id TEXT NOT NULL,
    n               INTEGER NOT NULL,
    score_sum       INTEGER NOT NULL,
    PRIMARY KEY (week, month, request_type_id)
) STRICT, WITHOUT ROWID;

-- Owner: auth. The people search's trigram index over the text the search
-- matches (username, email and full name, as the search joins them), kept by
-- triggers on users. people_index gives each person a stable integer, the
-- FTS rowid (a users rowid may change on VACUUM).
CREATE TABLE people_index (
    n       INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE
) STRICT;
CREATE VIRTUAL TABLE people_search USING fts5 (text, tokenize = 'trigram');

-- Backfill from the existing rows.
INSERT INTO report_weeks (week, opened)
SELECT created_at - ((created_at - 345600) % 604800 + 604800) % 604800, count(*)
FROM tickets GROUP BY 1;
INSERT INTO report_weeks (week, resolved)
SELECT resolved_at - ((resolved_at - 345600) % 604800 + 604800) % 604800, count(*)
FROM tickets WHERE resolved_at IS NOT NULL GROUP BY 1
ON CONFLICT (week) DO UPDATE SET resolved = excluded.resolved;
INSERT INTO ticket_clocks (ticket_id, kind, created_at, at)
SELECT id, 0, created_at, first_response_at FROM tickets WHERE first_response_at IS NOT NULL;
INSERT INTO ticket_clocks (ticket_id, kind, created_at, at)
SELECT id, 1, created_at, resolved_at FROM tickets WHERE resolved_at IS NOT NULL;
INSERT INTO report_ratings (week, month, request_type_id, n, score_sum)
SELECT r.created_at - ((r.created_at - 345600) % 604800 + 604800) % 604800,
       strftime('%Y-%m', r.created_at, 'unixepoch'), coalesce(t.request_type_id, ''),
       count(*), sum(r.score)
FROM ticket_ratings r LEFT JOIN tickets t ON t.id = r.ticket_id GROUP BY 1, 2, 3;
INSERT INTO people_index (user_id) SELECT id FROM users ORDER BY created_at, id;
INSERT INTO people_search (rowid, text)
SELECT i.n, u.username || ' ' || u.email || ' ' || u.full_name
FROM users u JOIN people_index i ON i.user_id = u.id;

-- Requests: opened and resolved per week, and the clock rows.
CREATE TRIGGER tickets_report_insert AFTER INSERT ON tickets BEGIN
  INSERT INTO report_weeks (week, opened)
  VALUES (NEW.created_at - ((NEW.created_at - 345600) % 604800 + 604800) % 604800, 1)
  ON CONFLICT (week) DO UPDATE SET opened = opened + 1
  ; INSERT INTO report_weeks (week, resolved)
  SELECT NEW.resolved_at - ((NEW.resolved_at - 345600) % 604800 + 604800) % 604800, 1
  WHERE NEW.resolved_at IS NOT NULL
  ON CONFLICT (week) DO UPDATE SET resolved = resolved + 1
  ; INSERT INTO ticket_clocks (ticket_id, kind, created_at, at)
  SELECT NEW.id, 0, NEW.created_at, NEW.first_response_at WHERE NEW.first_response_at IS NOT NULL
  ; INSERT INTO ticket_clocks (ticket_id, kind, created_at, at)
  SELECT NEW.id, 1, NEW.created_at, NEW.resolved_at WHERE NEW.resolved_at IS NOT NULL
  ; END;
CREATE TRIGGER tickets_report_delete AFTER DELETE ON tickets BEGIN
  UPDATE report_weeks SET opened = opened - 1
  WHERE week = OLD.created_at - ((OLD.created_at - 345600) % 604800 + 604800) % 604800
  ; UPDATE report_weeks SET resolved = resolved - 1
  WHERE OLD.resolved_at IS NOT NULL
    AND week = OLD.resolved_at - ((OLD.resolved_at - 345600) % 604800 + 604800) % 604800
  ; DELETE FROM ticket_clocks WHERE ticket_id = OLD.id
  ; END;
CREATE TRIGGER tickets_report_created AFTER UPDATE OF created_at ON tickets
WHEN OLD.created_at IS NOT NEW.created_at BEGIN
  UPDATE report_weeks SET opened = opened - 1
  WHERE week = OLD.created_at - ((OLD.created_at - 345600) % 604800 + 604800) % 604800
  ; INSERT INTO report_weeks (week, opened)
  VALUES (NEW.created_at - ((NEW.created_at - 345600) % 604800 + 604800) % 604800, 1)
  ON CONFLICT (week) DO UPDATE SET opened = opened + 1
  ; UPDATE ticket_clocks SET created_at = NEW.created_at, hours = NULL, wall_s = NULL,
    work_s = NULL, wall_b = NULL, work_b = NULL WHERE ticket_id = NEW.id
  ; END;
CREATE TRIGGER tickets_report_resolved AFTER UPDATE OF resolved_at ON tickets
WHEN OLD.resolved_at IS NOT NEW.resolved_at BEGIN
  UPDATE report_weeks SET resolved = resolved - 1
  WHERE OLD.resolved_at IS NOT NULL
    AND week = OLD.resolved_at - ((OLD.resolved_at - 345600) % 604800 + 604800) % 604800
  ; INSERT INTO report_weeks (week, resolved)
  SELECT NEW.resolved_at - ((NEW.resolved_at - 345600) % 604800 + 604800) % 604800, 1
  WHERE NEW.resolved_at IS NOT NULL
  ON CONFLICT (week) DO UPDATE SET resolved = resolved + 1
  ; DELETE FROM ticket_clocks WHERE ticket_id = NEW.id AND kind = 1 AND NEW.resolved_at IS NULL
  ; INSERT INTO ticket_clocks (ticket_id, kind, created_at, at)
  SELECT NEW.id, 1, NEW.created_at, NEW.resolved_at WHERE NEW.resolved_at IS NOT NULL
  ON CONFLICT (ticket_id, kind) DO UPDATE SET created_at = excluded.created_at,
    at = excluded.at, hours = NULL, wall_s = NULL, work_s = NULL, wall_b = NULL, work_b = NULL
  ; END;
CREATE TRIGGER tickets_report_first_response AFTER UPDATE OF first_response_at ON tickets
WHEN OLD.first_response_at IS NOT NEW.first_response_at BEGIN
  DELETE FROM ticket_clocks WHERE ticket_id = NEW.id AND kind = 0 AND NEW.first_response_at IS NULL
  ; INSERT INTO ticket_clocks (ticket_id, kind, created_at, at)
  SELECT NEW.id, 0, NEW.created_at, NEW.first_response_at WHERE NEW.first_response_at IS NOT NULL
  ON CONFLICT (ticket_id, kind) DO UPDATE SET created_at = excluded.created_at,
    at = excluded.at, hours = NULL, wall_s = NULL, work_s = NULL, wall_b = NULL, work_b = NULL
  ; END;

-- Clock rows: the histogram follows every stamped value in and out.
CREATE TRIGGER ticket_clocks_hist_insert AFTER INSERT ON ticket_clocks
WHEN NEW.hours IS NOT NULL BEGIN
  INSERT INTO report_clock_hist (kind, measure, bucket, week, n)
  VALUES (NEW.kind, 0, NEW.wall_b, NEW.created_at - ((NEW.created_at - 345600) % 604800 + 604800) % 604800, 1),
         (NEW.kind, 1, NEW.work_b, NEW.created_at - ((NEW.created_at - 345600) % 604800 + 604800) % 604800, 1)
  ON CONFLICT (kind, measure, bucket, week) DO UPDATE SET n = n + 1
  ; END;
-- Each statement names a whole primary key (an OR over the two measures
-- made SQLite walk every bucket of the kind, once per stamped row).
CREATE TRIGGER ticket_clocks_hist_delete AFTER DELETE ON ticket_clocks
WHEN OLD.hours IS NOT NULL BEGIN
  UPDATE report_clock_hist SET n = n - 1
  WHERE kind = OLD.kind AND measure = 0 AND bucket = OLD.wall_b
    AND week = OLD.created_at - ((OLD.created_at - 345600) % 604800 + 604800) % 604800
  ; UPDATE report_clock_hist SET n = n - 1
  WHERE kind = OLD.kind AND measure = 1 AND bucket = OLD.work_b
    AND week = OLD.created_at - ((OLD.created_at - 345600) % 604800 + 604800) % 604800
  ; END;
CREATE TRIGGER ticket_clocks_hist_update_old AFTER UPDATE ON ticket_clocks
WHEN OLD.hours IS NOT NULL BEGIN
  UPDATE report_clock_hist SET n = n - 1
  WHERE kind = OLD.kind AND measure = 0 AND bucket = OLD.wall_b
    AND week = OLD.created_at - ((OLD.created_at - 345600) % 604800 + 604800) % 604800
  ; UPDATE report_clock_hist SET n = n - 1
  WHERE kind = OLD.kind AND measure = 1 AND bucket = OLD.work_b
    AND week = OLD.created_at - ((OLD.created_at - 345600) % 604800 + 604800) % 604800
  ; END;
CREATE TRIGGER ticket_clocks_hist_update_new AFTER UPDATE ON ticket_clocks
WHEN NEW.hours IS NOT NULL BEGIN
  INSERT INTO report_clock_hist (kind, measure, bucket, week, n)
  VALUES (NEW.kind, 0, NEW.wall_b, NEW.created_at - ((NEW.created_at - 345600) % 604800 + 604800) % 604800, 1),
         (NEW.kind, 1, NEW.work_b, NEW.created_at - ((NEW.created_at - 345600) % 604800 + 604800) % 604800, 1)
  ON CONFLICT (kind, measure, bucket, week) DO UPDATE SET n = n + 1
  ; END;

-- Ratings per week, month and topic.
CREATE TRIGGER ticket_ratings_report_insert AFTER INSERT ON ticket_ratings BEGIN
  INSERT INTO report_ratings (week, month, request_type_id, n, score_sum)
  VALUES (NEW.created_at - ((NEW.created_at - 345600) % 604800 + 604800) % 604800,
          strftime('%Y-%m', NEW.created_at, 'unixepoch'),
          coalesce((SELECT request_type_id FROM tickets WHERE id = NEW.ticket_id), ''), 1, NEW.score)
  ON CONFLICT (week, month, request_type_id) DO UPDATE SET n = n + 1, score_sum = score_sum + excluded.score_sum
  ; END;
CREATE TRIGGER ticket_ratings_report_delete AFTER DELETE ON ticket_ratings BEGIN
  UPDATE report_ratings SET n = n - 1, score_sum = score_sum - OLD.score
  WHERE week = OLD.created_at - ((OLD.created_at - 345600) % 604800 + 604800) % 604800
    AND month = strftime('%Y-%m', OLD.created_at, 'unixepoch')
    AND request_type_id = coalesce((SELECT request_type_id FROM tickets WHERE id = OLD.ticket_id), '')
  ; END;
CREATE TRIGGER ticket_ratings_report_update AFTER UPDATE OF score, created_at, ticket_id ON ticket_ratings BEGIN
  UPDATE report_ratings SET n = n - 1, score_sum = score_sum - OLD.score
  WHERE week = OLD.created_at - ((OLD.created_at - 345600) % 604800 + 604800) % 604800
    AND month = strftime('%Y-%m', OLD.created_at, 'unixepoch')
    AND request_type_id = coalesce((SELECT request_type_id FROM tickets WHERE id = OLD.ticket_id), '')
  ; INSERT INTO report_ratings (week, month, request_type_id, n, score_sum)
  VALUES (NEW.created_at - ((NEW.created_at - 345600) % 604800 + 604800) % 604800,
          strftime('%Y-%m', NEW.created_at, 'unixepoch'),
          coalesce((SELECT request_type_id FROM tickets WHERE id = NEW.ticket_id), ''), 1, NEW.score)
  ON CONFLICT (week, month, request_type_id) DO UPDATE SET n = n + 1, score_sum = score_sum + excluded.score_sum
  ; END;
-- A request that changes topic (or is deleted) takes its rating along.
CREATE TRIGGER tickets_report_rating_topic AFTER UPDATE OF request_type_id ON tickets
WHEN OLD.request_type_id IS NOT NEW.request_type_id BEGIN
  UPDATE report_ratings SET n = n - 1, score_sum = score_sum - r.score
  FROM ticket_ratings r
  WHERE r.ticket_id = NEW.id AND report_ratings.request_type_id = OLD.request_type_id
    AND report_ratings.week = r.created_at - ((r.created_at - 345600) % 604800 + 604800) % 604800
    AND report_ratings.month = strftime('%Y-%m', r.created_at, 'unixepoch')
  ; INSERT INTO report_ratings (week, month, request_type_id, n, score_sum)
  SELECT r.created_at - ((r.created_at - 345600) % 604800 + 604800) % 604800,
         strftime('%Y-%m', r.created_at, 'unixepoch'), NEW.request_type_id, 1, r.score
  FROM ticket_ratings r WHERE r.ticket_id = NEW.id
  ON CONFLICT (week, month, request_type_id) DO UPDATE SET n = n + 1, score_sum = score_sum + excluded.score_sum
  ; END;

-- People: the search index follows every name, username and email.
CREATE TRIGGER users_people_insert AFTER INSERT ON users BEGIN
  INSERT INTO people_index (user_id) VALUES (NEW.id)
  ; INSERT INTO people_search (rowid, text)
  SELECT n, NEW.username || ' ' || NEW.email || ' ' || NEW.full_name FROM people_index WHERE user_id = NEW.id
  ; END;
CREATE TRIGGER users_people_update AFTER UPDATE OF id, username, email, full_name ON users BEGIN
  DELETE FROM people_search WHERE rowid = (SELECT n FROM people_index WHERE user_id = OLD.id)
  ; UPDATE people_index SET user_id = NEW.id WHERE user_id = OLD.id
  ; INSERT INTO people_search (rowid, text)
  SELECT n, NEW.username || ' ' || NEW.email || ' ' || NEW.full_name FROM people_index WHERE user_id = NEW.id
  ; END;
CREATE TRIGGER users_people_delete AFTER DELETE ON users BEGIN
  DELETE FROM people_search WHERE rowid = (SELECT n FROM people_index WHERE user_id = OLD.id)
  ; DELETE FROM people_index WHERE user_id = OLD.id
  ; END;
