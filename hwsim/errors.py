"""The one exception type for bad user input.

A leaf module with no imports of its own, so every layer may raise it without depending on a
higher one. The CLI turns it into a one-line message and exit code 2; anything else escaping
the library is a bug and keeps its traceback.
"""

__all__ = ["CombinationError", "HwsimError", "Interrupted"]


class HwsimError(ValueError):
    """Invalid input from the user: a file, a YAML path, a parameter or a value.

    The message must name what was wrong and, where they are finite, the allowed values.
    """


class CombinationError(HwsimError):
    """Values each valid alone that do not go together (``attention.splits: 8`` with a short
    sequence, an override of a layer the model lacks). A sweep over either records such a
    point as failed instead of refusing the whole sweep before it runs."""


class Interrupted(SystemExit):
    """The user stopped the command: Ctrl-C (code 130) or SIGTERM (143).

    A `SystemExit`, so that no ``except Exception`` swallows it and the command-line framework
    does not turn it into its own message; ``with`` blocks still close on the way out.
    """
