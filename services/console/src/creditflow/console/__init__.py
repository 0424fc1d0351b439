"""creditflow console: the registrars' web pages, over the four services' public HTTP APIs."""
