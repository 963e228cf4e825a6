"""prefect_defender.flows: the playbooks, one module per playbook
(``prefect_defender.flows.<module>``), and what they share (``flows.notify``, ``flows.reports``).
"""
