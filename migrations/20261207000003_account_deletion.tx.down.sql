DROP TABLE IF EXISTS session_tombstones;
