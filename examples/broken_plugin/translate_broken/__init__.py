"""Two deliberately broken plugins, for isolation tests and as examples of the messages:

missing_dependency  fails on import, as a plugin with a missing dependency would;
misspelt            imports, but its ``evalute`` hook is misspelt: the contract check reports it
                    by name with a did-you-mean, instead of the hook never running.
"""
