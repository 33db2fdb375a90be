"""{{ cookiecutter.project_name | trim }}.

{{ cookiecutter.description | wordwrap(96) }}
"""

__version__ = "{{ cookiecutter.version }}"
