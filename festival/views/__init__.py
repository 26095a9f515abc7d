"""Views: parse the request, call one domain function, render. One module per audience."""
