"""The shape of the code: files of at most 400 lines, functions of at most 80 lines of code.

Long files and functions hide structure; the few that are longer are listed here with the
reason, so that a new one fails this test rather than growing unnoticed. A function's
docstring does not count towards its length (public functions document their parameters
at length).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80

# path (from the repository's root) -> why it is longer
LONG_FILES: dict[str, str] = {}
# "path:function" -> why it is longer
LONG_FUNCTIONS: dict[str, str] = {}


def _sources() -> list[pathlib.Path]:
    files = sorted((ROOT / "python" / "widenet").rglob("*.py"))
    files += sorted((ROOT / "cpp").rglob("*.hpp")) + sorted((ROOT / "cpp").rglob("*.cpp"))
    return [path for path in files if "third_party" not in path.parts]


def _relative(path: pathlib.Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _code_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the ``def`` to the end of the body, less the docstring's lines."""
    lines = function.end_lineno - function.lineno + 1  # type: ignore[operator]
    first = function.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        lines -= first.end_lineno - first.lineno + 1  # type: ignore[operator]
    return lines


def _long_functions() -> dict[str, int]:
    found = {}
    for path in _sources():
        if path.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _code_lines(node) > MAX_FUNCTION_LINES:
                found[f"{_relative(path)}:{node.name}"] = _code_lines(node)
    return found


def test_files_are_short():
    long = {_relative(path): len(path.read_text().splitlines()) for path in _sources()}
    long = {name: lines for name, lines in long.items() if lines > MAX_FILE_LINES}
    assert set(long) <= set(LONG_FILES), f"files over {MAX_FILE_LINES} lines: {long}"


def test_functions_are_short():
    long = _long_functions()
    assert set(long) <= set(LONG_FUNCTIONS), f"functions over {MAX_FUNCTION_LINES} lines of code: {long}"


@pytest.mark.parametrize("table, current", [(LONG_FILES, "files"), (LONG_FUNCTIONS, "functions")])
def test_the_exceptions_are_still_needed(table, current):
    """An exception that no longer applies is removed, so the list stays the truth."""
    if current == "files":
        still = {_relative(path) for path in _sources() if len(path.read_text().splitlines()) > MAX_FILE_LINES}
    else:
        still = set(_long_functions())
    assert set(table) <= still, f"no longer long, remove from the list: {set(table) - still}"


def test_the_check_catches_a_long_function(tmp_path):
    """A function one line over the limit is caught; its docstring is not counted."""
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 1))
    docstring = '    """' + "\n".join(["Doc."] * 30) + '"""\n'
    over = ast.parse(f"def f():\n{docstring}{body}\n    return 0\n").body[0]
    under = ast.parse(f"def f():\n{docstring}{body}\n").body[0]
    assert _code_lines(over) == MAX_FUNCTION_LINES + 1
    assert _code_lines(under) == MAX_FUNCTION_LINES


MAX_BINDING_ARGUMENTS = 8


def _parameter_count(signature: str) -> int:
    """The parameters of a pybind11 signature line ``name(a: T[x, y], b: U = 1) -> R``, less ``self``."""
    depth, count, inside = 0, 0, signature[signature.index("(") + 1:]
    names = [""]
    for char in inside:
        if depth == 0 and char == ")":
            break
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            count += 1
            names.append("")
            continue
        names[-1] += char
    names = [name.strip() for name in names if name.strip()]
    return len([name for name in names if not name.startswith("self")])


def _binding_signatures() -> dict[str, list[str]]:
    """Every signature of the compiled module's functions, constructors and methods (overloads included)."""
    from widenet._native import _core

    found: dict[str, list[str]] = {}
    for name, value in vars(_core).items():
        callables = [(name, value)] if callable(value) and not isinstance(value, type) else []
        if isinstance(value, type):
            callables = [(f"{name}.{attr}", getattr(value, attr)) for attr in vars(value)
                         if callable(getattr(value, attr)) and (attr == "__init__" or not attr.startswith("_"))]
        for qualified, function in callables:
            short = qualified.rsplit(".", 1)[-1]
            lines = (function.__doc__ or "").splitlines()
            found[qualified] = [line.split(". ", 1)[-1] for line in lines
                                if line.split(". ", 1)[-1].startswith(f"{short}(")]
    return found


def test_no_binding_takes_more_than_eight_arguments():
    """The compiled functions take objects (the network, a run's options), not loose arrays
    and strings: none takes more than eight arguments."""
    signatures = _binding_signatures()
    assert {"train", "ntk_gram", "limit_kernel", "Network.__init__"} <= set(signatures)
    assert all(signatures[name] for name in ("train", "ntk_gram", "limit_kernel", "Network.__init__"))
    many = {name: [_parameter_count(s) for s in lines] for name, lines in signatures.items()
            if any(_parameter_count(s) > MAX_BINDING_ARGUMENTS for s in lines)}
    assert not many, f"bindings with more than {MAX_BINDING_ARGUMENTS} arguments: {many}"


def test_the_count_reads_nested_types():
    """Commas inside annotations do not count; a ninth parameter does."""
    eight = 'f(self, a: typing.Annotated[numpy.NDArray, "[m, n]"], b: dict[str, int], c, d, e, f, g, h=(1, 2)) -> int'
    assert _parameter_count(eight) == 8
    assert _parameter_count(eight.replace("h=(1, 2)", "h=(1, 2), i")) == 9
