#!/usr/bin/python3
"""Runs the ExecStart= of a systemd unit file the way systemd would, for
test/integration/enrol_lego.sh: the test runs the unit's own command line,
never a copy of it.

    unit_exec.py UNIT_FILE INSTANCE ENV_FILE STATE_DIR

What systemd does and this does too: continuation lines joined, the one
ExecStart= of [Service] split into words (quotes as in systemd.syntax(7)),
specifiers %i/%I (the instance) and %% expanded, "$$" turned into "$",
the EnvironmentFile's KEY=VALUE lines put into the environment and
STATE_DIRECTORY set (StateDirectory=). Refuses, with exit 3, what it does
not model: another specifier, a "$" systemd itself would substitute, more
than one ExecStart, an EnvironmentFile other than /etc/lego-renew/%i.env
(ENV_FILE stands in for it). Exits with the command's status.
"""
import os
import re
import shlex
import sys


def fail(msg):
    print("unit_exec: " + msg, file=sys.stderr)
    sys.exit(3)


def service_settings(path):
    """[Service] KEY=VALUE pairs, continuation lines joined, in order."""
    text = open(path, encoding="utf-8").read()
    lines, cur = [], ""
    for raw in text.split("\n"):
        if cur == "" and raw.lstrip().startswith(("#", ";")):
            continue
        if raw.endswith("\\"):
            cur += raw[:-1] + " "
            continue
        lines.append(cur + raw)
        cur = ""
    section, out = None, []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]" and "=" in line:
            key, value = line.split("=", 1)
            out.append((key.strip(), value.strip()))
    return out


def specifiers(word, instance):
    def one(m):
        c = m.group(1)
        if c == "%":
            return "%"
        if c in "iI":
            return instance
        fail("specifier %%%s is not modelled" % c)
    return re.sub(r"%(.)", one, word)


def dollars(word):
    if re.search(r"(?<!\$)\$(?!\$)", word.replace("$$", "")):
        fail("systemd would substitute a variable in %r" % word)
    return word.replace("$$", "$")


def env_file(path):
    env = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if "=" not in line:
            fail("%s: line without '=': %r" % (path, line))
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def main():
    if len(sys.argv) != 5:
        fail("usage: unit_exec.py UNIT_FILE INSTANCE ENV_FILE STATE_DIR")
    unit, instance, envpath, state = sys.argv[1:]
    settings = service_settings(unit)
    execs = [v for k, v in settings if k == "ExecStart"]
    envfiles = [v for k, v in settings if k == "EnvironmentFile"]
    if len(execs) != 1:
        fail("want one ExecStart=, found %d" % len(execs))
    if envfiles != ["/etc/lego-renew/%i.env"]:
        fail("EnvironmentFile= is %r, want /etc/lego-renew/%%i.env" % envfiles)
    cmd = execs[0]
    if cmd[:1] in "-@:+!":
        fail("ExecStart prefix %r is not modelled" % cmd[0])
    argv = [dollars(specifiers(w, instance)) for w in shlex.split(cmd)]
    env = dict(os.environ)
    env.update(env_file(envpath))
    env["STATE_DIRECTORY"] = state
    os.makedirs(state, mode=0o700, exist_ok=True)
    os.execve(argv[0], argv, env)


main()
