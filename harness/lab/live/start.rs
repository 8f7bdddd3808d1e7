//! The plan's toxics put on the gates as the lab starts, after spawning registered every gate.

use std::collections::HashSet;

use super::gate::toxic_fits;
use super::Switchboard;
use crate::lab::error::LabError;
use crate::lab::plan::ToxicPlan;

/// Put each of `toxics` on its gate, in plan order; a name that is unknown, a toxic that does not
/// fit its listener or a toxic name used twice on one gate fails the start (a scenario file was
/// checked for all three when it loaded; a plan written in code was not).
pub(crate) fn apply_toxics(live: &Switchboard, toxics: &[ToxicPlan]) -> Result<(), LabError> {
    let gates = live.gates();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for plan in toxics {
        let Some(gate) = gates.iter().find(|g| g.name == plan.on) else {
            return Err(LabError::UnknownToxicTarget {
                toxic: plan.toxic.name.clone(),
                on: plan.on.clone(),
                known: gates.iter().map(|g| g.name.clone()).collect(),
            });
        };
        toxic_fits(Some(gate.kind), &plan.toxic).map_err(|source| LabError::ToxicMisfit {
            toxic: plan.toxic.name.clone(),
            on: plan.on.clone(),
            source,
        })?;
        if !seen.insert((plan.on.as_str(), plan.toxic.name.as_str())) {
            return Err(LabError::DuplicateName {
                kind: "toxic",
                name: format!("{} on {}", plan.toxic.name, plan.on),
            });
        }
    }
    for gate in &gates {
        let on_gate: Vec<_> = toxics
            .iter()
            .filter(|t| t.on == gate.name)
            .map(|t| t.toxic.clone())
            .collect();
        if !on_gate.is_empty() {
            tracing::info!(gate = %gate.name, toxics = on_gate.len(), "scenario toxics on");
            gate.set_scenario_toxics(on_gate);
        }
    }
    Ok(())
}
