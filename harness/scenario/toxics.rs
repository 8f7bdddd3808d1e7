//! `[[toxic]]` entries into the lab plan's toxics: the listener named by `on` resolved to its kind,
//! the type and attributes read by the control API's own parser, and the rule of which toxic fits
//! which listener (`toxic_fits`) applied here too, so a scenario is refused where the API would
//! answer 400.

use std::collections::HashMap;

use serde_json::{Map, Value};
use serde_spanned::Spanned;

use crate::lab::control::{
    check_destination, check_name, check_toxicity, Stream, Toxic, ToxicKind, TOXIC_TYPES,
};
use crate::lab::{GateKind, ToxicMisfit, ToxicPlan};

use super::convert::Resolve;
use super::error::ScenarioError;
use super::model::{StreamKey, ToxicKey};
use super::validate::Scope;

/// Every `[[toxic]]` converted in file order; a toxic name used twice on one listener is refused.
pub(crate) fn all(scope: &Scope<'_>, keys: &[ToxicKey]) -> Result<Vec<ToxicPlan>, ScenarioError> {
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut plans = Vec::with_capacity(keys.len());
    for key in keys {
        let plan = key.resolve(scope)?;
        let spot = key.name.as_ref().unwrap_or(&key.kind);
        let first_line = scope.at(spot).line;
        if let Some(first_line) =
            seen.insert((plan.on.clone(), plan.toxic.name.clone()), first_line)
        {
            return Err(ScenarioError::Duplicate {
                at: scope.at(spot),
                kind: "toxic",
                name: format!("{} on {}", plan.toxic.name, plan.on),
                first_line,
            });
        }
        plans.push(plan);
    }
    Ok(plans)
}

impl From<StreamKey> for Stream {
    fn from(key: StreamKey) -> Self {
        match key {
            StreamKey::Downstream => Stream::Downstream,
            StreamKey::Upstream => Stream::Upstream,
        }
    }
}

impl Resolve for ToxicKey {
    type Plan = ToxicPlan;

    fn resolve(&self, scope: &Scope<'_>) -> Result<ToxicPlan, ScenarioError> {
        let gate = listener(scope, &self.on)?;
        let word = self.kind.get_ref();
        if !TOXIC_TYPES.contains(&word.as_str()) {
            return Err(scope.unknown(&self.kind, "toxic type", word, TOXIC_TYPES));
        }
        let attributes = match &self.attributes {
            None => Map::new(),
            Some(table) => match serde_json::to_value(table.get_ref()) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            },
        };
        let kind = ToxicKind::from_json(word, attributes).map_err(|error| {
            let at = self
                .attributes
                .as_ref()
                .map_or_else(|| scope.at(&self.kind), |a| scope.at(a));
            ScenarioError::Invalid {
                at,
                what: format!("{word} toxic {}", error.detail()),
                expected: format!("the attributes Toxiproxy defines for {word} (docs/control.md)"),
            }
        })?;
        let stream = Stream::from(self.stream);
        let name = match &self.name {
            Some(name) => {
                check_name(name.get_ref()).map_err(|_| {
                    scope.invalid(
                        name,
                        format!("toxic name {:?}", name.get_ref()),
                        "1 to 128 ASCII letters, digits, `-`, `_` or `.`",
                    )
                })?;
                name.get_ref().clone()
            }
            None => format!("{word}_{}", stream.word()),
        };
        let toxicity = match &self.toxicity {
            None => 1.0,
            Some(t) => check_toxicity(*t.get_ref()).map_err(|_| {
                scope.invalid(
                    t,
                    format!("toxicity {:?}", t.get_ref()),
                    "a share from 0.0 to 1.0",
                )
            })?,
        };
        let destination = self
            .destination
            .as_ref()
            .map(|d| {
                check_destination(d.get_ref().clone()).map_err(|_| {
                    scope.invalid(
                        d,
                        format!("destination `{}`", d.get_ref()),
                        "`*`, a host name or a *.suffix pattern",
                    )
                })
            })
            .transpose()?;
        let toxic = Toxic {
            name,
            kind,
            stream,
            toxicity,
            destination,
        };
        if let Err(misfit) = crate::lab::toxic_fits(Some(gate), &toxic) {
            let (spot, expected) = match &misfit {
                ToxicMisfit::DestinationNotOnProxy => (
                    self.destination.as_ref().unwrap_or(&self.on),
                    "`destination` only on a toxic whose `on` is a proxy",
                ),
                ToxicMisfit::NotForUdp { .. } => (
                    &self.kind,
                    "packet_loss, latency or noop on a [[udp]] responder",
                ),
                _ => (&self.kind, "packet_loss only on a [[udp]] responder"),
            };
            let what = match gate {
                GateKind::Endpoint => "an endpoint",
                GateKind::Proxy => "a proxy",
                GateKind::Route => "a proxy's route to its parent",
                GateKind::Udp => "a UDP responder",
            };
            return Err(scope.invalid(
                spot,
                format!("{misfit}; `{}` is {what}", self.on.get_ref()),
                expected,
            ));
        }
        Ok(ToxicPlan {
            on: self.on.get_ref().clone(),
            toxic,
        })
    }
}

/// What kind of listener `on` names, in the order the lab registers its gates (endpoints, then
/// proxies with their routes, then UDP responders), so that the loader and the lab agree.
fn listener(scope: &Scope<'_>, on: &Spanned<String>) -> Result<GateKind, ScenarioError> {
    let scenario = scope.scenario;
    let name = on.get_ref().as_str();
    if scenario.endpoint.iter().any(|e| e.name.get_ref() == name) {
        return Ok(GateKind::Endpoint);
    }
    if scope.has_proxy(name) {
        return Ok(GateKind::Proxy);
    }
    let routes: Vec<String> = scenario
        .proxy
        .iter()
        .filter_map(|p| {
            let parent = p.upstream.as_ref()?;
            Some(format!("{}~{}", p.name.get_ref(), parent.get_ref()))
        })
        .collect();
    if routes.iter().any(|r| r == name) {
        return Ok(GateKind::Route);
    }
    if scenario.udp.iter().any(|u| u.name.get_ref() == name) {
        return Ok(GateKind::Udp);
    }
    let mut known: Vec<&str> = scenario
        .endpoint
        .iter()
        .map(|e| e.name.get_ref().as_str())
        .collect();
    known.extend(&scope.proxies);
    known.extend(routes.iter().map(String::as_str));
    known.extend(scenario.udp.iter().map(|u| u.name.get_ref().as_str()));
    Err(scope.unknown(on, "toxic listener", name, &known))
}
