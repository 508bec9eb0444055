"""`--write-env` puts the tap's settings into a `.env` quoted as Meltano writes it, and keeps
every other line as it was; that file and `--write-tap-config`'s hold credentials: they are
their owner's alone."""

from __future__ import annotations

import dotenv

from tap_lp_audittrail.sandbox.cli import write_env, write_private


def test_values_are_quoted_as_meltano_quotes_them_and_other_lines_are_kept(tmp_path):
    env = tmp_path / ".env"
    env.write_text("OTHER='keep me'\nexport TAP_LP_AUDITTRAIL_PASSWORD='old'\n")
    write_env(env, {"account_id": "12345678", "password": "it's a \\ pass", "page_size": 50})
    lines = env.read_text().splitlines()
    assert lines[0] == "OTHER='keep me'"
    assert lines[1:] == [
        "TAP_LP_AUDITTRAIL_ACCOUNT_ID='12345678'",
        "TAP_LP_AUDITTRAIL_PASSWORD='it\\'s a \\\\ pass'",
        "TAP_LP_AUDITTRAIL_PAGE_SIZE='50'",
    ]
    assert dotenv.dotenv_values(env) == {
        "OTHER": "keep me",
        "TAP_LP_AUDITTRAIL_ACCOUNT_ID": "12345678",
        "TAP_LP_AUDITTRAIL_PASSWORD": "it's a \\ pass",
        "TAP_LP_AUDITTRAIL_PAGE_SIZE": "50",
    }
    assert env.stat().st_mode & 0o777 == 0o600


def test_a_file_of_credentials_is_written_into_a_new_folder_for_its_owner_alone(tmp_path):
    fresh, existing = tmp_path / "output" / "config.json", tmp_path / "config.json"
    existing.write_text("{}")
    existing.chmod(0o644)
    for path in (fresh, existing):
        write_private(path, '{"app_secret": "s"}')
        assert path.read_text() == '{"app_secret": "s"}'
        assert path.stat().st_mode & 0o777 == 0o600
