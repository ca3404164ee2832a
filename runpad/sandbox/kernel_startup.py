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


_runpad_configure()
del _runpad_configure
