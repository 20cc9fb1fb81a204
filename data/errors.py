"""The one exception type for mistakes in a user's config, data or command line."""


class UserInputError(Exception):
  """Raised for bad input the user can fix; entry points print it and exit with code 2."""
