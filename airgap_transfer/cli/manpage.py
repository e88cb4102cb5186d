"""Generate man/airgap-transfer.1 from the click command tree.

    python -m airgap_transfer.cli.manpage -o man/airgap-transfer.1

The page walks whatever commands the CLI has (groups recursively), so after a
new command lands, regenerating is this one command; a test fails while the
committed page is stale.  Fixed sections (exit codes, files, environment,
completion) are written here.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from airgap_transfer import __version__
from airgap_transfer.cli.app import cli
from airgap_transfer.errors import (
    EXIT_INCOMPLETE,
    EXIT_INTEGRITY,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_NO_SPACE,
    EXIT_TRUST,
    EXIT_USAGE,
)

PROG = "airgap-transfer"

EXIT_CODES = [
    (0, "Success."),
    (EXIT_INTERNAL, "Unexpected internal error (a bug). The message is one line; run again with "
                    "--debug for the traceback and report it."),
    (EXIT_USAGE, "Usage error: a wrong option or argument, an existing output without --force, "
                 "an unreadable key file or a wrong passphrase for it."),
    (EXIT_INCOMPLETE, "Incomplete: chunks or drives are still missing. Insert the drives named in "
                      "the message and run the same command again."),
    (EXIT_INTEGRITY, "Integrity failure: a chunk or the whole bundle does not match its signed digest."),
    (EXIT_TRUST, "Trust failure: the index signature is invalid, the key is not trusted, or the "
                 "index is a replay or from another transfer."),
    (EXIT_NO_SPACE, "Not enough space on the destination."),
    (EXIT_INTERRUPTED, "Interrupted (Ctrl-C). What was already proven is kept; run the same command "
                       "again to resume."),
]

EXAMPLES = [
    ("Once, on the sending side: make the signing key; give signing.pub to the receivers.",
     "airgap-transfer keygen"),
    ("Pack a bundle onto a drive (asks for the next drive when it is full):",
     "airgap-transfer pack ollama-deploy.tar.gz /media/usb1"),
    ("Pack a folder onto two drives, never waiting for another:",
     "airgap-transfer pack ./deploy /media/usb1 /media/usb2 --no-prompt"),
    ("On the receiving side: what is there, check it, rebuild it:",
     "airgap-transfer status /media\nairgap-transfer verify /media --trust sender.pub\n"
     "airgap-transfer unpack /media ~/deployment --trust sender.pub"),
    ("Put the tool itself on the drive, for an offline install:",
     "airgap-transfer bootstrap /media/usb1"),
]

FILES = [
    ("$XDG_CONFIG_HOME/airgap-transfer/signing.key",
     "The default secret signing key made by keygen (keep it on the sending side)."),
    ("$XDG_CONFIG_HOME/airgap-transfer/signing.pub", "Its public key, to give to receivers."),
    ("$XDG_CONFIG_HOME/airgap-transfer/trusted/",
     "Public keys trusted by unpack, verify and status, besides those given with --trust."),
    ("$XDG_STATE_HOME/airgap-transfer/",
     "State: journals for resume, the local chain-of-custody log, accepted transfers."),
    ("DEST/airgap-ID/",
     "On each drive: chunk files, index.agt and index.agt.minisig (the signed index), B3SUMS "
     "(b3sum -c), SHA256SUMS with pack --sha256 (sha256sum -c), identity.age with pack --passphrase, "
     "signer.pub and RESTORE.txt (how to rebuild with stock tools)."),
]

ENVIRONMENT = [
    ("XDG_CONFIG_HOME", "Base of the config folder; default ~/.config."),
    ("XDG_STATE_HOME", "Base of the state folder; default ~/.local/state."),
    ("AIRGAP_TRANSFER_PASSPHRASE_FILE", "A file whose first line is the passphrase, for scripts: of a "
     "passphrase-protected secret key (keygen, and every command that signs), and of pack --passphrase and "
     "unpack of a transfer packed with it. Without it, the passphrase is asked on the terminal."),
    ("_AIRGAP_TRANSFER_COMPLETE", "Set by the shell completion scripts (see SHELL COMPLETION)."),
]


def roff(text: str) -> str:
    """Plain text made safe as roff: backslashes, hyphens, and leading control characters."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line[:1] in (".", "'") else line for line in text.splitlines())


def _paragraphs(help_text: str) -> list[str]:
    text = inspect.cleandoc(help_text or "").replace("\b\n", "")
    return [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]


def _commands(group: click.Group, ctx: click.Context,
              prefix: str) -> Iterator[tuple[str, click.Command, click.Context]]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        sub = command.make_context(name, [], parent=ctx, resilient_parsing=True)
        yield f"{prefix}{name}", command, sub
        if isinstance(command, click.Group):
            yield from _commands(command, sub, f"{prefix}{name} ")


def _options(command: click.Command, ctx: click.Context) -> list[str]:
    out = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None or not isinstance(param, click.Option):
            continue
        names, help_text = record
        out += [".TP", f"\\fB{roff(names)}\\fR", roff(help_text or "")]
    return out


def render() -> str:
    root = cli.make_context(PROG, [], resilient_parsing=True)
    lines = [
        f'.TH AIRGAP\\-TRANSFER 1 "" "{PROG} {__version__}" "User Commands"',
        ".SH NAME",
        f"{roff(PROG)} \\- {roff(_paragraphs(cli.help or '')[0])}",
        ".SH SYNOPSIS",
        f"\\fB{roff(PROG)}\\fR [\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]",
        ".SH DESCRIPTION",
        roff("Pack streams a bundle (a file, a folder carried as a tar stream, or standard input) once, "
             "cuts it into checksummed chunks sized to each drive, writes each chunk atomically, reads "
             "it back from the medium, and records it in an Ed25519-signed index (minisign-compatible). "
             "Unpack finds the chunks on whatever drives are present, in any order, verifies the "
             "signature against a trusted key and every digest, and gives the output its final name "
             "only when the whole is proven."),
        ".PP",
        roff("Every command takes --json (machine-readable output on standard output: JSON lines of "
             "events for long commands, ending with a result or error document) and --quiet. Human "
             "text goes to standard error when standard output is not a terminal. Progress (bytes, "
             "throughput, ETA, current drive and chunk) is drawn on a terminal only."),
        ".SH GLOBAL OPTIONS",
        *_options(cli, root),
        ".SH COMMANDS",
    ]
    for path, command, ctx in _commands(cli, root, ""):
        usage = " ".join(command.collect_usage_pieces(ctx))
        lines += [f'.SS "{roff(path)} {roff(usage)}"']
        for i, paragraph in enumerate(_paragraphs(command.help or '')):
            lines += ([".PP"] if i else []) + [roff(paragraph)]
        lines += _options(command, ctx)
    lines.append(".SH EXAMPLES")
    for comment, example in EXAMPLES:
        lines += [".PP", roff(comment), ".PP", ".RS", ".nf", roff(example), ".fi", ".RE"]
    lines.append(".SH EXIT STATUS")
    for code, meaning in EXIT_CODES:
        lines += [".TP", f"\\fB{code}\\fR", roff(meaning)]
    lines.append(".SH FILES")
    for name, meaning in FILES:
        lines += [".TP", f"\\fI{roff(name)}\\fR", roff(meaning)]
    lines.append(".SH ENVIRONMENT")
    for name, meaning in ENVIRONMENT:
        lines += [".TP", f"\\fB{roff(name)}\\fR", roff(meaning)]
    lines += [
        ".SH SHELL COMPLETION",
        roff("Completion is click's own. For bash, add to ~/.bashrc:"),
        ".PP", ".nf", ".RS",
        roff('eval "$(_AIRGAP_TRANSFER_COMPLETE=bash_source airgap-transfer)"'),
        ".RE", ".fi", ".PP",
        roff("For zsh use zsh_source in ~/.zshrc; for fish, put the output of "
             "_AIRGAP_TRANSFER_COMPLETE=fish_source airgap-transfer in "
             "~/.config/fish/completions/airgap-transfer.fish."),
        ".SH SEE ALSO",
        "\\fBminisign\\fR(1), \\fBb3sum\\fR(1), \\fBzstd\\fR(1), \\fBtar\\fR(1)",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the airgap-transfer man page.")
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    text = render()
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
