"""The project's YAML inputs (params.yaml, study.yaml) read as plain data: one line for each way
a file can be wrong, before any value is used.

Safe YAML alone is not enough for files a user edits or receives: an alias (`*name`) repeats a
value without copying it, so a few hundred bytes of nested aliases expand to gigabytes once an
error line prints the value; and a key written twice silently keeps the last one (DVC refuses
such a file, so the stages and DVC would disagree). Both are refused here, with the line.
"""

import yaml

from lrstudy.core.outputs import read_utf8


class YamlProblem(ValueError):
    """What is wrong with a YAML text, with its line (the caller names the file)."""


class PlainLoader(yaml.SafeLoader):
    """SafeLoader without aliases and without repeated keys."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            line = self.peek_event().start_mark.line + 1
            raise YamlProblem(f"line {line}: an alias (*name) is not read here; write the value")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
            except TypeError:  # a list or mapping as a key
                raise YamlProblem(
                    f"line {key_node.start_mark.line + 1}: a key must be a name or a number"
                ) from None
            if repeated:
                raise YamlProblem(f"line {key_node.start_mark.line + 1}: {key!r} written twice")
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse_yaml(data):
    """The data of the YAML text `data`; a YamlProblem when it is not YAML, or holds an alias or
    a repeated key."""
    try:
        return yaml.load(data, Loader=PlainLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise YamlProblem(f"{where}{error.problem or ' '.join(str(error).split())}") from None


def read_yaml(path):
    """parse_yaml of the file at `path` (one line where it is not UTF-8; FileNotFoundError
    passes through)."""
    return parse_yaml(read_utf8(path))
