"""YAML read as YAML 1.2's core schema reads it, for scripts/check-rules-schema.

PyYAML implements YAML 1.1, where `yes`, `on` and `no` are booleans and `1:30` is a number;
the loader (yaml-cpp) and the editors (yaml-language-server) read YAML 1.2, where they are
strings. Only the core schema's spellings of null, booleans, integers and floats are resolved;
everything else stays a string.
"""
import re

import yaml


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {}


def _resolve(tag, pattern, first):
    _Loader.add_implicit_resolver("tag:yaml.org,2002:" + tag, re.compile(pattern), list(first))


_resolve("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""])
_resolve("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF")
_resolve("int", r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+)$", "-+0123456789")
_resolve("float",
         r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
         r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
         "-+0123456789.")


def load(text):
    """The first document of `text`."""
    return yaml.load(text, Loader=_Loader)
