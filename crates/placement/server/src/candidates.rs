//! The allocation-candidate search and the provider filters, as pure functions over a
//! [`Snapshot`] of providers, inventories, usages, traits and aggregates.
//!
//! Semantics follow placement (`objects/allocation_candidate.py`, `research_context.py`):
//! * The unsuffixed request group may spread its resource classes over several
//!   providers of one tree (each class from one provider); its required traits must
//!   be covered by the union of the traits of the providers it uses.
//! * A suffixed group takes all its resources from one provider, which must itself
//!   satisfy the group's traits, aggregates and `in_tree`. A suffixed group without
//!   resources (1.36, only inside `same_subtree`) picks any provider with its traits.
//! * `group_policy=isolate` makes suffixed groups use different providers;
//!   `same_subtree` makes the providers of the listed groups share one ancestor among
//!   them; `root_required` applies to the tree's root.
//! * Combined amounts per provider and class must fit the remaining capacity.
//!
//! Not modelled: sharing providers (`MISC_SHARES_VIA_AGGREGATE`); every candidate
//! comes from a single provider tree.

use std::collections::{BTreeMap, BTreeSet};

use rustack_placement_api::Inventory;

use crate::store::Snapshot;

/// One element of a `required` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraitClause {
    /// At least one of these (a single name is a plain required trait; `in:` = several).
    AnyOf(Vec<String>),
    /// Must not have this trait (`!NAME`).
    Forbidden(String),
}

/// One element of `member_of`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AggClause {
    /// In at least one of these aggregates.
    AnyOf(Vec<String>),
    /// In none of these (`!in:` / `!uuid`).
    NoneOf(Vec<String>),
}

/// One request group (`resources[SUFFIX]`, `required[SUFFIX]`...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestGroup {
    /// Amount per class.
    pub resources: BTreeMap<String, i64>,
    /// Trait clauses.
    pub required: Vec<TraitClause>,
    /// Aggregate clauses.
    pub member_of: Vec<AggClause>,
    /// Restrict to the tree of this provider.
    pub in_tree: Option<String>,
}

/// A parsed `GET /allocation_candidates` request.
#[derive(Clone, Debug, Default)]
pub struct CandidateRequest {
    /// Groups by suffix (`""` = unsuffixed).
    pub groups: BTreeMap<String, RequestGroup>,
    /// `group_policy=isolate`.
    pub isolate: bool,
    /// `same_subtree` lists of suffixes.
    pub same_subtree: Vec<Vec<String>>,
    /// `root_required` clauses.
    pub root_required: Vec<TraitClause>,
    /// Cap on results.
    pub limit: Option<usize>,
    /// Upper bound on combinations explored (config; `None` = default).
    pub max_candidates: Option<usize>,
}

/// One candidate: amounts per provider and class, and which providers served which
/// group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    /// Provider -> class -> amount.
    pub allocations: BTreeMap<String, BTreeMap<String, i64>>,
    /// Suffix -> providers.
    pub mappings: BTreeMap<String, Vec<String>>,
}

/// Free capacity of `rc` on `rp`, or `None` if no inventory.
fn free<'a>(s: &'a Snapshot, rp: &str, rc: &str) -> Option<(i64, &'a Inventory)> {
    let inv = s.inventories.get(rp)?.get(rc)?;
    let used = s
        .usages
        .get(rp)
        .and_then(|u| u.get(rc))
        .copied()
        .unwrap_or(0);
    Some((inv.capacity() - used, inv))
}

/// True if `rp` can take `amount` of `rc` on its own.
pub fn fits(s: &Snapshot, rp: &str, rc: &str, amount: i64) -> bool {
    match free(s, rp, rc) {
        Some((free, inv)) => {
            amount <= free
                && amount >= inv.min_unit
                && amount <= inv.max_unit
                && amount % inv.step_size.max(1) == 0
        }
        None => false,
    }
}

/// True if the trait set satisfies every clause.
pub fn traits_ok(traits: &BTreeSet<String>, clauses: &[TraitClause]) -> bool {
    clauses.iter().all(|c| match c {
        TraitClause::AnyOf(any) => any.iter().any(|t| traits.contains(t)),
        TraitClause::Forbidden(t) => !traits.contains(t),
    })
}

fn empty() -> &'static BTreeSet<String> {
    static EMPTY: std::sync::OnceLock<BTreeSet<String>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(BTreeSet::new)
}

fn traits_of<'a>(s: &'a Snapshot, rp: &str) -> &'a BTreeSet<String> {
    s.traits.get(rp).unwrap_or_else(|| empty())
}

/// True if `rp` (or its root) satisfies the aggregate clauses.
pub fn aggs_ok(s: &Snapshot, rp: &str, clauses: &[AggClause]) -> bool {
    let own = s.aggregates.get(rp).unwrap_or_else(|| empty());
    let root = s
        .providers
        .get(rp)
        .and_then(|p| s.aggregates.get(&p.root_uuid))
        .unwrap_or_else(|| empty());
    clauses.iter().all(|c| match c {
        AggClause::AnyOf(any) => any.iter().any(|a| own.contains(a) || root.contains(a)),
        AggClause::NoneOf(none) => none.iter().all(|a| !own.contains(a)),
    })
}

fn in_tree_ok(s: &Snapshot, rp: &str, in_tree: &Option<String>) -> bool {
    match in_tree {
        None => true,
        Some(t) => match (s.providers.get(t), s.providers.get(rp)) {
            (Some(t), Some(p)) => t.root_uuid == p.root_uuid,
            _ => false,
        },
    }
}

/// Providers listed by `GET /resource_providers` filters.
#[derive(Clone, Debug, Default)]
pub struct ProviderFilter {
    /// `name=`.
    pub name: Option<String>,
    /// `uuid=`.
    pub uuid: Option<String>,
    /// `in_tree=`.
    pub in_tree: Option<String>,
    /// `member_of=` clauses (provider's own aggregates).
    pub member_of: Vec<AggClause>,
    /// `required=` clauses.
    pub required: Vec<TraitClause>,
    /// `resources=` (the provider alone must have room).
    pub resources: BTreeMap<String, i64>,
}

/// The providers matching `f`, in uuid order.
pub fn filter_providers<'a>(
    s: &'a Snapshot,
    f: &ProviderFilter,
) -> Vec<&'a crate::store::Provider> {
    s.providers
        .values()
        .filter(|p| f.name.as_ref().is_none_or(|n| &p.name == n))
        .filter(|p| f.uuid.as_ref().is_none_or(|u| &p.uuid == u))
        .filter(|p| in_tree_ok(s, &p.uuid, &f.in_tree))
        .filter(|p| {
            let own = s.aggregates.get(&p.uuid).unwrap_or_else(|| empty());
            f.member_of.iter().all(|c| match c {
                AggClause::AnyOf(any) => any.iter().any(|a| own.contains(a)),
                AggClause::NoneOf(none) => none.iter().all(|a| !own.contains(a)),
            })
        })
        .filter(|p| traits_ok(traits_of(s, &p.uuid), &f.required))
        .filter(|p| {
            f.resources
                .iter()
                .all(|(rc, amount)| match free(s, &p.uuid, rc) {
                    Some((free, inv)) => *amount <= free && *amount <= inv.max_unit,
                    None => false,
                })
        })
        .collect()
}

/// One way to satisfy one group inside one tree: class -> provider, plus the
/// providers it "uses" (for mappings).
#[derive(Clone, Debug)]
struct GroupOption {
    amounts: Vec<(String, String, i64)>,
    providers: Vec<String>,
}

fn group_options(
    s: &Snapshot,
    tree: &[&str],
    suffix: &str,
    g: &RequestGroup,
    cap: usize,
) -> Vec<GroupOption> {
    let eligible = |rp: &str| aggs_ok(s, rp, &g.member_of) && in_tree_ok(s, rp, &g.in_tree);
    if !suffix.is_empty() || g.resources.is_empty() {
        // One provider serves the whole group.
        return tree
            .iter()
            .filter(|rp| eligible(rp))
            .filter(|rp| traits_ok(traits_of(s, rp), &g.required))
            .filter(|rp| g.resources.iter().all(|(rc, n)| fits(s, rp, rc, *n)))
            .map(|rp| GroupOption {
                amounts: g
                    .resources
                    .iter()
                    .map(|(rc, n)| (rp.to_string(), rc.clone(), *n))
                    .collect(),
                providers: vec![rp.to_string()],
            })
            .take(cap)
            .collect();
    }
    // Unsuffixed: each class from any provider of the tree that fits it.
    let per_class: Vec<(String, i64, Vec<&str>)> = g
        .resources
        .iter()
        .map(|(rc, n)| {
            let rps: Vec<&str> = tree
                .iter()
                .copied()
                .filter(|rp| eligible(rp) && fits(s, rp, rc, *n))
                .collect();
            (rc.clone(), *n, rps)
        })
        .collect();
    if per_class.iter().any(|(_, _, rps)| rps.is_empty()) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut idx = vec![0usize; per_class.len()];
    loop {
        let amounts: Vec<(String, String, i64)> = per_class
            .iter()
            .zip(&idx)
            .map(|((rc, n, rps), i)| (rps[*i].to_string(), rc.clone(), *n))
            .collect();
        let providers: BTreeSet<String> = amounts.iter().map(|(p, _, _)| p.clone()).collect();
        let mut union = BTreeSet::new();
        for p in &providers {
            union.extend(traits_of(s, p).iter().cloned());
        }
        if traits_ok(&union, &g.required) {
            out.push(GroupOption {
                amounts,
                providers: providers.into_iter().collect(),
            });
            if out.len() >= cap {
                break;
            }
        }
        // Next combination (odometer).
        let mut k = 0;
        loop {
            if k == idx.len() {
                return out;
            }
            idx[k] += 1;
            if idx[k] < per_class[k].2.len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
    out
}

/// True if `a` is `b` or one of its ancestors.
fn is_ancestor_or_self(s: &Snapshot, a: &str, b: &str) -> bool {
    let mut at = Some(b.to_string());
    let mut hops = 0;
    while let Some(x) = at {
        if x == a {
            return true;
        }
        at = s.providers.get(&x).and_then(|p| p.parent_uuid.clone());
        hops += 1;
        if hops > 1000 {
            return false;
        }
    }
    false
}

/// Runs the search. Results are ordered by tree (root uuid) then by choice order.
pub fn search(s: &Snapshot, req: &CandidateRequest) -> Vec<Candidate> {
    let cap = req.max_candidates.unwrap_or(100_000);
    let limit = req.limit.unwrap_or(usize::MAX);
    let mut trees: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in s.providers.values() {
        trees
            .entry(p.root_uuid.as_str())
            .or_default()
            .push(p.uuid.as_str());
    }
    let groups: Vec<(&String, &RequestGroup)> = req.groups.iter().collect();
    let mut out: Vec<Candidate> = Vec::new();
    let mut seen = BTreeSet::new();
    'trees: for (root, tree) in trees {
        if !traits_ok(traits_of(s, root), &req.root_required) {
            continue;
        }
        let options: Vec<Vec<GroupOption>> = groups
            .iter()
            .map(|(suffix, g)| group_options(s, &tree, suffix, g, cap))
            .collect();
        if options.iter().any(Vec::is_empty) {
            continue;
        }
        let mut idx = vec![0usize; options.len()];
        let mut explored = 0usize;
        loop {
            explored += 1;
            if explored > cap {
                break;
            }
            let chosen: Vec<&GroupOption> = options.iter().zip(&idx).map(|(o, i)| &o[*i]).collect();
            if let Some(c) = combine(s, req, &groups, &chosen) {
                if seen.insert(c.clone()) {
                    out.push(c);
                    if out.len() >= limit {
                        break 'trees;
                    }
                }
            }
            let mut k = 0;
            loop {
                if k == idx.len() {
                    continue 'trees;
                }
                idx[k] += 1;
                if idx[k] < options[k].len() {
                    break;
                }
                idx[k] = 0;
                k += 1;
            }
        }
    }
    out
}

fn combine(
    s: &Snapshot,
    req: &CandidateRequest,
    groups: &[(&String, &RequestGroup)],
    chosen: &[&GroupOption],
) -> Option<Candidate> {
    if req.isolate {
        let mut used = BTreeSet::new();
        for ((suffix, _), o) in groups.iter().zip(chosen) {
            if suffix.is_empty() {
                continue;
            }
            for p in &o.providers {
                if !used.insert(p.clone()) {
                    return None;
                }
            }
        }
    }
    let mut mappings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ((suffix, _), o) in groups.iter().zip(chosen) {
        mappings.insert((*suffix).clone(), o.providers.clone());
    }
    for subtree in &req.same_subtree {
        let provs: Vec<&String> = subtree
            .iter()
            .filter_map(|sfx| mappings.get(sfx))
            .flatten()
            .collect();
        let ok = provs
            .iter()
            .any(|a| provs.iter().all(|b| is_ancestor_or_self(s, a, b)));
        if !ok {
            return None;
        }
    }
    let mut allocations: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for o in chosen {
        for (p, rc, n) in &o.amounts {
            *allocations
                .entry(p.clone())
                .or_default()
                .entry(rc.clone())
                .or_default() += n;
        }
    }
    for (p, res) in &allocations {
        for (rc, n) in res {
            match free(s, p, rc) {
                Some((free, inv)) if *n <= free && *n <= inv.max_unit => {}
                _ => return None,
            }
        }
    }
    // Resourceless groups map to a provider but allocate nothing from it.
    allocations.retain(|_, r| !r.is_empty());
    Some(Candidate {
        allocations,
        mappings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Provider;

    fn snap() -> Snapshot {
        let mut s = Snapshot::default();
        let mut add = |uuid: &str, parent: Option<&str>, root: &str| {
            s.providers.insert(
                uuid.into(),
                Provider {
                    uuid: uuid.into(),
                    name: uuid.into(),
                    generation: 0,
                    parent_uuid: parent.map(String::from),
                    root_uuid: root.into(),
                    created_at: String::new(),
                    updated_at: String::new(),
                },
            );
        };
        add("cn1", None, "cn1");
        add("numa0", Some("cn1"), "cn1");
        add("numa1", Some("cn1"), "cn1");
        add("cn2", None, "cn2");
        let inv = |n| Inventory::with_total(n);
        s.inventories
            .insert("cn1".into(), BTreeMap::from([("DISK_GB".into(), inv(100))]));
        s.inventories.insert(
            "numa0".into(),
            BTreeMap::from([("VCPU".into(), inv(4)), ("MEMORY_MB".into(), inv(1024))]),
        );
        s.inventories.insert(
            "numa1".into(),
            BTreeMap::from([("VCPU".into(), inv(4)), ("MEMORY_MB".into(), inv(1024))]),
        );
        s.inventories.insert(
            "cn2".into(),
            BTreeMap::from([
                ("VCPU".into(), inv(2)),
                ("MEMORY_MB".into(), inv(512)),
                ("DISK_GB".into(), inv(10)),
            ]),
        );
        s.usages
            .insert("numa1".into(), BTreeMap::from([("VCPU".into(), 3)]));
        s.traits
            .insert("cn2".into(), BTreeSet::from(["HW_CPU_X86_AVX".to_string()]));
        s
    }

    fn group(res: &[(&str, i64)]) -> RequestGroup {
        RequestGroup {
            resources: res.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn unsuffixed_spreads_over_a_tree() {
        let s = snap();
        let req = CandidateRequest {
            groups: BTreeMap::from([("".into(), group(&[("VCPU", 2), ("DISK_GB", 5)]))]),
            ..Default::default()
        };
        let c = search(&s, &req);
        // cn1 tree: VCPU from numa0 only (numa1 has 1 free) + DISK from cn1; cn2 alone.
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].allocations["numa0"]["VCPU"], 2);
        assert_eq!(c[0].allocations["cn1"]["DISK_GB"], 5);
        assert_eq!(c[1].allocations["cn2"].len(), 2);
    }

    #[test]
    fn granular_isolate_and_traits() {
        let s = snap();
        let req = CandidateRequest {
            groups: BTreeMap::from([
                ("1".into(), group(&[("VCPU", 1)])),
                ("2".into(), group(&[("VCPU", 1)])),
            ]),
            isolate: true,
            ..Default::default()
        };
        let c = search(&s, &req);
        assert_eq!(c.len(), 2, "{c:?}"); // numa0/numa1 and numa1/numa0
        assert!(c.iter().all(|c| c.mappings["1"] != c.mappings["2"]));
        let mut g = group(&[("VCPU", 1)]);
        g.required = vec![TraitClause::AnyOf(vec!["HW_CPU_X86_AVX".into()])];
        let req = CandidateRequest {
            groups: BTreeMap::from([("".into(), g)]),
            limit: Some(5),
            ..Default::default()
        };
        let c = search(&s, &req);
        assert_eq!(c.len(), 1);
        assert!(c[0].allocations.contains_key("cn2"));
    }

    #[test]
    fn combined_amounts_must_fit() {
        let s = snap();
        let req = CandidateRequest {
            groups: BTreeMap::from([
                ("".into(), group(&[("VCPU", 2)])),
                ("1".into(), group(&[("VCPU", 2)])),
            ]),
            ..Default::default()
        };
        // numa0 has 4 free: both groups there (4) fits; numa1 has 1 free.
        let c = search(&s, &req);
        assert!(c.iter().all(|c| !c.allocations.contains_key("numa1")));
        assert!(c
            .iter()
            .any(|c| c.allocations.get("numa0").map(|r| r["VCPU"]) == Some(4)));
        // cn2 has only 2 VCPU: never both groups.
        assert!(c.iter().all(|c| !c.allocations.contains_key("cn2")));
    }
}
