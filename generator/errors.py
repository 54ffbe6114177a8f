"""The one exception the generator raises for problems a human must fix."""


class GeneratorError(Exception):
    """Stops regen with a message that says what is wrong and where."""
