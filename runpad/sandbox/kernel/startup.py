"""Runs inside every sandbox kernel once, at start (IPKernelApp.exec_files).

Everything here is deferred until the user imports the library it configures, so a
kernel that never touches pandas or matplotlib does not pay for them.
"""


def _runpad_configure() -> None:
    import json

    from IPython import get_ipython
    from IPython.core.formatters import BaseFormatter
    from traitlets import ObjectName, Unicode

    shell = get_ipython()
    if shell is None:
        return

    class _TableFormatter(BaseFormatter):  # type: ignore[misc]
        """Data frames as Frictionless table data, so the host gets rows, not just HTML."""

        format_type = Unicode("application/vnd.dataresource+json")
        print_method = ObjectName("_repr_data_resource_")
        _return_type = (dict,)

    def _table(frame: object, max_rows: int = 200) -> dict:  # type: ignore[type-arg]
        head = frame.head(max_rows)  # type: ignore[attr-defined]
        table = json.loads(head.to_json(orient="table", date_format="iso", default_handler=str))
        table["total_rows"] = len(frame)  # type: ignore[arg-type]
        return table  # type: ignore[no-any-return]

    formatter = _TableFormatter(parent=shell.display_formatter)
    shell.display_formatter.formatters[formatter.format_type] = formatter
    # pandas 3 reports its classes as `pandas.DataFrame`, older releases by their modules.
    for module, name in (
        ("pandas", "DataFrame"),
        ("pandas", "Series"),
        ("pandas.core.frame", "DataFrame"),
        ("pandas.core.series", "Series"),
    ):
        formatter.for_type_by_name(module, name, _table)


def _runpad_bound_output(limit: int = 1 << 20) -> None:
    """Send stdout and stderr in messages of at most `limit` characters.

    ipykernel buffers what a cell writes and sends it as one message every 0.2 s, so a cell
    printing in a tight loop sends messages of a hundred megabytes, which the host must
    decode whole. Splitting the writes and flushing every `limit` characters bounds the
    messages, and flush() waits for the I/O thread, so a flood is slowed to what the host
    takes in.
    """
    import sys

    def bound(stream) -> None:  # type: ignore[no-untyped-def]
        write = stream.write
        pending = 0

        def bounded_write(text: str) -> int:
            nonlocal pending
            for start in range(0, len(text), limit):
                piece = text[start : start + limit]
                write(piece)
                pending += len(piece)
                if pending >= limit:
                    pending = 0
                    stream.flush()
            return len(text)

        stream.write = bounded_write

    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "pub_thread"):  # an ipykernel OutStream
            bound(stream)


_runpad_configure()
_runpad_bound_output()
del _runpad_configure, _runpad_bound_output
