"""`source-lp-audittrail`: the tap as an Airbyte source, speaking the Airbyte protocol.

A thin adapter: `read` runs the Singer tap's own engine (TapLPAuditTrail, its config checks,
windows, retries and redaction); only the messages change on their way out.

- RECORD becomes an Airbyte RECORD (`emitted_at` in milliseconds).
- A Singer STATE `{"bookmarks": {stream: {...}}}` becomes one Airbyte STATE of type STREAM per
  stream whose bookmark changed, its `stream_state` the stream's bookmark as the tap wrote it;
  an incoming Airbyte state (STREAM states, GLOBAL or LEGACY) becomes that Singer state again.
  A stream read in `full_refresh` mode starts without its bookmark.
- SCHEMA says nothing here: `discover` gives the schemas.
- Python logging leaves as LOG messages; nothing else reaches stdout.
- Every selected stream is STARTED when the read begins (the engine reads them all in one
  pass), RUNNING at its first record, and COMPLETE or INCOMPLETE when the read ends.
- An error ends the command with a TRACE message of type ERROR: its message is the line the
  Singer command line ends with, its `failure_type` follows the failure's kind and the exit
  code is the same (failures.py: `config_error` for settings, files, refused credentials,
  missing permissions and hosts that never answered; `transient_error` for the server or the
  network still failing after the retries, and for a stop asked for; `system_error` for a bug).
  Its text names the setting or permission and holds no secret.

The messages are plain JSON: the adapter needs no Airbyte package at run time. Its modules:

- `commands.py`: the command line (`spec`, `check`, `discover`, `read`), each command, and the
  TRACE that ends a failed one;
- `messages.py`: the Airbyte messages on stdout, the tap's Singer messages translated into them
  (RECORD, STATE, stream statuses) and Python logging as LOG messages;
- `spec.py`: the settings as a connection specification (secrets, groups for the form);
- `catalog.py`: the streams as a catalog, and the streams a configured catalog selects;
- `state.py`: an Airbyte state, in any of its forms, as the Singer state the tap reads.
"""
