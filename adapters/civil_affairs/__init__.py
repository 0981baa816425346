"""Civil-affairs adapter (民政): death, marriage, disability and assistance-enrollment records over SOAP 1.1."""

from adapters.civil_affairs.adapter import CivilAffairsAdapter

__all__ = ["CivilAffairsAdapter"]
