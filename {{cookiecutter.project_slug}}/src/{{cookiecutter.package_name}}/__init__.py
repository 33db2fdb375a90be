"""{{ cookiecutter.project_name }}.

{{ cookiecutter.description | wordwrap(96) }}
"""

__version__ = "{{ cookiecutter.version }}"
