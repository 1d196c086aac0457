#!/usr/bin/env python3
"""Generate oslo_golden.json: reference answers from the real oslo.policy code.

The Rust tests in crates/policy compare the port against these answers, so
regenerate this file (and review the diff) when updating to a newer
oslo.policy or keystone.

Usage (source trees, e.g. `git worktree add` or `git archive | tar x`):

    python3 gen_oslo_golden.py OSLO_POLICY_DIR KEYSTONE_DIR > oslo_golden.json

(set OSLO_POLICY_COMMIT / KEYSTONE_COMMIT when the trees are not git
checkouts, so the file records what it was generated from).

Only oslo_policy/_parser.py and _checks.py are imported (with oslo.context
and stevedore stubbed out), plus keystone/common/policies/*.py (with
oslo_policy.policy and oslo_log stubbed to record RuleDefaults). Needs
Python >= 3.11.
"""

import importlib
import itertools
import json
import logging
import os
import subprocess
import sys
import tempfile
import types


def commit_of(path, env):
    # For exported trees (git archive) pass the commit in the environment.
    if os.environ.get(env):
        return os.environ[env]
    try:
        return subprocess.run(['git', '-C', path, 'rev-parse', 'HEAD'],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
    except Exception:
        return 'unknown'


def load_oslo(oslo_dir):
    # Stubs for the two third-party imports of _checks.py.
    ctx = types.ModuleType('oslo_context.context')

    class RequestContext:
        pass

    ctx.RequestContext = RequestContext
    pkg = types.ModuleType('oslo_context')
    pkg.context = ctx
    sys.modules['oslo_context'] = pkg
    sys.modules['oslo_context.context'] = ctx
    stevedore = types.ModuleType('stevedore')

    class ExtensionManager(list):
        def __init__(self, *a, **kw):
            super().__init__()

    stevedore.ExtensionManager = ExtensionManager
    sys.modules['stevedore'] = stevedore

    oslo_pkg = types.ModuleType('oslo_policy')
    oslo_pkg.__path__ = [os.path.join(oslo_dir, 'oslo_policy')]
    sys.modules['oslo_policy'] = oslo_pkg
    checks = importlib.import_module('oslo_policy._checks')
    parser = importlib.import_module('oslo_policy._parser')
    # The http/https entry-point plugins are left out: rustack does not
    # support them and its tests cover them separately.
    checks.extension_checks = {}
    return checks, parser


def load_keystone_rules(keystone_dir):
    rules = []
    policy_mod = types.ModuleType('oslo_policy.policy')

    class RuleDefault:
        def __init__(self, name, check_str, description=None,
                     deprecated_rule=None, deprecated_for_removal=False,
                     deprecated_reason=None, deprecated_since=None,
                     scope_types=None, operations=None):
            self.name = name
            self.check_str = check_str
            self.scope_types = scope_types
            self.deprecated_for_removal = deprecated_for_removal

    class DocumentedRuleDefault(RuleDefault):
        def __init__(self, name, check_str, description, operations,
                     **kw):
            super().__init__(name, check_str, description, **kw)

    class DeprecatedRule:
        def __init__(self, name, check_str, **kw):
            self.name = name
            self.check_str = check_str

    policy_mod.RuleDefault = RuleDefault
    policy_mod.DocumentedRuleDefault = DocumentedRuleDefault
    policy_mod.DeprecatedRule = DeprecatedRule
    sys.modules['oslo_policy.policy'] = policy_mod
    sys.modules['oslo_policy'].policy = policy_mod
    vu = types.ModuleType('oslo_log.versionutils')

    class _Deprecated:
        def __getattr__(self, name):
            return name

    vu.deprecated = _Deprecated()
    log = types.ModuleType('oslo_log')
    log.versionutils = vu
    sys.modules['oslo_log'] = log
    sys.modules['oslo_log.versionutils'] = vu
    sys.path.insert(0, keystone_dir)
    for name in ('keystone', 'keystone.common'):
        mod = types.ModuleType(name)
        mod.__path__ = [os.path.join(keystone_dir, *name.split('.'))]
        sys.modules[name] = mod
    policies = importlib.import_module('keystone.common.policies')
    for r in policies.list_rules():
        rules.append({'name': r.name, 'check_str': r.check_str,
                      'scope_types': r.scope_types or [],
                      'deprecated_for_removal': r.deprecated_for_removal})
    return rules


def flatten_dict(d, parent_key=''):
    # keystone.common.utils.flatten_dict
    items = []
    for k, v in d.items():
        new_key = parent_key + '.' + k if parent_key else k
        if isinstance(v, dict):
            items.extend(list(flatten_dict(v, new_key).items()))
        else:
            items.append((new_key, v))
    return dict(items)


class Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.count = 0

    def emit(self, record):
        self.count += 1


def creds(user, *, system=False, project=None, domain=None, roles=(),
          project_domain=None, user_domain='d1'):
    """keystone RequestContext.to_policy_values() plus the token render."""
    token = {'user': {'id': user, 'domain': {'id': user_domain}},
             'roles': [{'name': r} for r in roles]}
    if system:
        token['system'] = {'all': True}
    if project:
        token['project'] = {'id': project, 'domain': {'id': project_domain}}
    if domain:
        token['domain'] = {'id': domain}
    return {
        'user_id': user, 'user_domain_id': user_domain,
        'system_scope': 'all' if system else None,
        'domain_id': domain, 'project_id': project,
        'project_domain_id': project_domain, 'roles': list(roles),
        'is_admin_project': True, 'service_user_id': None,
        'service_user_domain_id': None, 'service_project_id': None,
        'service_project_domain_id': None, 'service_roles': [],
        'token': token,
    }


ADMIN = ['admin', 'manager', 'member', 'reader']
PERSONAS = {
    'system_admin': creds('u_sa', system=True, roles=ADMIN),
    'system_reader': creds('u_sr', system=True, roles=['reader']),
    'project_admin': creds('u_pa', project='p1', project_domain='d1',
                           roles=ADMIN),
    'project_member': creds('u_pm', project='p1', project_domain='d1',
                            roles=['member', 'reader']),
    'project_reader': creds('u_pr', project='p1', project_domain='d1',
                            roles=['reader']),
    'domain_admin': creds('u_da', domain='d1', roles=ADMIN),
    'domain_manager': creds('u_dm', domain='d1',
                            roles=['manager', 'member', 'reader']),
    'domain_reader': creds('u_dr', domain='d1', roles=['reader']),
    'other_project_member': creds('u_om', project='p2', project_domain='d2',
                                  roles=['member', 'reader'],
                                  user_domain='d2'),
    'service': creds('u_svc', project='service', project_domain='default',
                     roles=['service'], user_domain='default'),
    'anonymous': {},
    'is_admin_int': {'is_admin': 1},
    'is_admin_bool': {'is_admin': True},
}

# Nested targets as a rustack handler might build them; keystone flattens
# them before enforcement. Top-level keys are keystone's view_args.
TARGETS = {
    'empty': {},
    'own_user': {'user_id': 'u_pm', 'target': {
        'user': {'id': 'u_pm', 'domain_id': 'd1'}}},
    'other_user': {'user_id': 'u_om', 'target': {
        'user': {'id': 'u_om', 'domain_id': 'd2'}}},
    'project_p1': {'project_id': 'p1', 'domain_id': 'd1', 'target': {
        'project': {'id': 'p1', 'domain_id': 'd1'}, 'domain_id': 'd1',
        'domain': {'id': 'd1'}}},
    'project_p2': {'project_id': 'p2', 'target': {
        'project': {'id': 'p2', 'domain_id': 'd2'}, 'domain_id': 'd2',
        'domain': {'id': 'd2'}}},
    'grant_member_d1': {'target': {
        'user': {'id': 'u_pm', 'domain_id': 'd1'},
        'project': {'id': 'p1', 'domain_id': 'd1'},
        'role': {'name': 'member', 'domain_id': None}}},
    'grant_admin_d1': {'target': {
        'user': {'id': 'u_pm', 'domain_id': 'd1'},
        'domain': {'id': 'd1'},
        'role': {'name': 'admin', 'domain_id': None}}},
    'credential_own': {'target': {'credential': {'user_id': 'u_pm'}}},
    'trust_own': {'target': {'trust': {'trustor_user_id': 'u_pm',
                                       'trustee_user_id': 'u_om'}}},
    'token_own': {'target': {'token': {'user_id': 'u_pm'}}},
    'limit_p1': {'target': {'limit': {'project_id': 'p1',
                                      'project': {'domain_id': 'd1'}}}},
    'group_d1': {'target': {'group': {'domain_id': 'd1'},
                            'user': {'domain_id': 'd1'}}},
}

PARSE_CASES = [
    '', ' ', '@', '!', 'role:admin', 'rule:admin_required',
    'role:a or role:b and role:c', 'role:a and role:b or role:c',
    'role:a or role:b and role:c or role:d',
    'role:a and role:b or role:c and role:d',
    'role:a or (role:b and role:c) and role:d',
    '(role:a or role:b) and role:c', '((role:a))', '(role:a and role:b) and role:c',
    'not role:a', 'not role:a and role:b', 'role:a and not role:b',
    'not (role:a or role:b)', 'not not role:a', 'NOT role:a AND role:b OR role:c',
    'role:a or', 'and role:a', '(role:a', 'role:a)', '()', 'not',
    'role:a or "quoted"', "'quoted'", 'noColon', 'role:a or noColon',
    'project_id:%(project_id)s', 'project_id:%(target.project.id)s)',
    '(role:reader and system_scope:all) or user_id:%(target.user.id)s',
    "'member':%(target.role.name)s", 'None:%(x)s', 'True:%(x)s',
    'rule:', 'role:', ':x',
    'a:b:c', 'role:a\tor\nrole:b', '( role:a )', 'role:a or (not role:b)',
]

# (check string, target, creds) evaluated with the parse-and-call path.
EVAL_CASES = [
    ('role:ADMIN', {}, {'roles': ['admin']}),
    ('role:admin', {}, {'roles': ['Admin']}),
    ('role:admin', {}, {'roles': 'admin'}),
    ('role:admin', {}, {}),
    ('role:%(role)s', {'role': 'Reader'}, {'roles': ['reader']}),
    ('role:%(role)s', {}, {'roles': ['reader']}),
    ('is_admin:1', {}, {'is_admin': 1}),
    ('is_admin:1', {}, {'is_admin': True}),
    ('is_admin:True', {}, {'is_admin': True}),
    ('is_admin:true', {}, {'is_admin': True}),
    ('True:%(enabled)s', {'enabled': True}, {}),
    ('True:%(enabled)s', {'enabled': 'True'}, {}),
    ('False:%(enabled)s', {'enabled': False}, {}),
    ('None:%(x)s', {'x': None}, {}),
    ('None:%(x)s', {}, {}),
    ('not None:%(x)s', {}, {}),
    ('not None:%(x)s', {'x': 'y'}, {}),
    ("'member':%(role.name)s", {'role.name': 'member'}, {}),
    ('"member":%(role.name)s', {'role.name': 'member'}, {}),
    ("'member':%(role.name)s", {'role.name': 'Member'}, {}),
    ('1:%(n)s', {'n': 1}, {}),
    ('1.0:%(n)s', {'n': 1.0}, {}),
    ('1.0:%(n)s', {'n': 1}, {}),
    ('0x10:16', {}, {}),
    ('system_scope:all', {}, {'system_scope': 'all'}),
    ('system:all', {}, {'system_scope': 'all'}),
    ('system:all', {}, {'system': 'all'}),
    ('project_id:%(project_id)s', {'project_id': 'p1'}, {'project_id': 'p1'}),
    ('project_id:%(project_id)s', {'project_id': 'p1'}, {'project_id': 'p2'}),
    ('project_id:%(project_id)s', {}, {'project_id': 'p1'}),
    ('project_id:%(project_id)s', {'project_id': None}, {'project_id': None}),
    ('project_id:%(project_id)s', {'project_id': None}, {}),
    ('token.project.domain.id:%(d)s', {'d': 'd1'},
     {'token': {'project': {'domain': {'id': 'd1'}}}}),
    ('token.project.domain.id:%(d)s', {'d': 'd1'}, {'token': {}}),
    ('roles:admin', {}, {'roles': ['reader', 'admin']}),
    ('groups.name:g1', {}, {'groups': [{'name': 'g0'}, {'name': 'g1'}]}),
    ('a.b:1', {}, {'a': [{'b': [0, 1]}]}),
    ('flag:True', {}, {'flag': True}),
    ('n:2', {}, {'n': 2}),
    ('l:[1]', {}, {'l': [1]}),
    ('d:x', {}, {'d': 'x'}),
    ('user_id:%(user_id)s', {'user_id': 'u'}, {'user_id': 'u'}),
    ('user_id:u%%', {}, {'user_id': 'u%'}),
    ('user_id:%(user_id)s-x', {'user_id': 'u'}, {'user_id': 'u-x'}),
    ('rule:nope', {}, {}),
    ('not rule:nope', {}, {}),
    ('role:a or noColon', {}, {'roles': ['a']}),
    ('role:a and noColon', {}, {'roles': ['a']}),
    ('not noColon', {}, {}),
    ('', {}, {}),
    (' ', {}, {}),
    ('role:a or', {}, {'roles': ['a']}),
    ('role:a or role:b and role:c', {}, {'roles': ['a']}),
    ('(role:a or role:b) and role:c', {}, {'roles': ['a']}),
    ('not role:a and role:b', {}, {'roles': ['b']}),
    ('not (role:a or role:b)', {}, {'roles': ['c']}),
]


def enforce_creds(cred):
    # What Enforcer.enforce() does to the creds before evaluating.
    cred = dict(cred)
    if cred.get('system_scope'):
        cred['system'] = cred.get('system_scope')
    return cred


def main():
    oslo_dir, keystone_dir = sys.argv[1], sys.argv[2]
    checks, parser = load_oslo(oslo_dir)
    capture = Capture()
    logging.getLogger('oslo_policy._parser').addHandler(capture)
    logging.getLogger('oslo_policy._parser').propagate = False
    logging.getLogger('oslo_policy._parser').setLevel(logging.DEBUG)

    def parse(s):
        capture.count = 0
        check = parser.parse_rule(s)
        return check, capture.count > 0

    class Enf:
        def __init__(self, rules):
            self.rules = rules

    parse_out = []
    for s in PARSE_CASES:
        check, logged = parse(s)
        parse_out.append({'rule': s, 'str': str(check), 'logged': logged})

    eval_out = []
    for s, target, cred in EVAL_CASES:
        check, _ = parse(s)
        result = bool(checks._check(check, target, enforce_creds(cred),
                                    Enf({}), None))
        eval_out.append({'rule': s, 'target': target, 'creds': cred,
                         'result': result})

    ks_rules = load_keystone_rules(keystone_dir)
    enf = Enf({r['name']: parse(r['check_str'])[0] for r in ks_rules})
    persona_names = list(PERSONAS)
    target_names = list(TARGETS)
    results = []
    for r in ks_rules:
        row = []
        for p, t in itertools.product(persona_names, target_names):
            cred = enforce_creds(PERSONAS[p])
            flat = flatten_dict(TARGETS[t])
            ok = checks._check(enf.rules[r['name']], flat, cred, enf,
                               r['name'])
            row.append('1' if ok else '0')
        results.append(''.join(row))

    json.dump({
        'oslo_policy_commit': commit_of(oslo_dir, 'OSLO_POLICY_COMMIT'),
        'keystone_commit': commit_of(keystone_dir, 'KEYSTONE_COMMIT'),
        'parse': parse_out,
        'eval': eval_out,
        'keystone': {
            'rules': ks_rules,
            'personas': PERSONAS,
            'targets': TARGETS,
            # Explicit orders: JSON readers need not keep key order.
            'persona_order': persona_names,
            'target_order': target_names,
            # results[i][p * len(targets) + t] for rule i, persona p,
            # target t (in the orders above; nested targets flattened as
            # keystone does).
            'results': results,
        },
    }, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
