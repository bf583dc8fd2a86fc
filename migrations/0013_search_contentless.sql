-- 0013 the search index keeps no copy of the text. Searches only ever read
-- rowids (search::condition): a request's text is rowid -number, a comment
-- the rowid of its activity row, and internal notes are told apart through
-- ticket_activity. The copy in the index's content table duplicated every
-- description and comment, and a raise wrote two more pages under the write
-- lock for it. A contentless table (`content = ''`, SQLite 3.9+) indexes the
-- words only; an edited comment is taken out with FTS5's 'delete' command
-- and its old text (search::index_comment). The UNINDEXED columns, which
-- nothing read, are gone with it.
CREATE VIRTUAL TABLE ticket_search_words USING fts5 (
    body,
    tokenize = 'unicode61 remove_diacritics 2',
    content = ''
);
INSERT INTO ticket_search_words (rowid, body) SELECT rowid, body FROM ticket_search;
DROP TABLE ticket_search;
ALTER TABLE ticket_search_words RENAME TO ticket_search;
