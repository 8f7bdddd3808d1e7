//! The Squid access keys of a `[[proxy]]` (`acl`, `http_access`, `deny_info`, `always_direct`)
//! turned into the lab's [`SquidAccess`], each value checked where it is written.

use serde_spanned::Spanned;

use crate::lab::{parse_acl, AccessLine, Acl, DenyInfo, DenyPage, SquidAccess};

use super::error::ScenarioError;
use super::model::{self, AccessKey, RuleActionKey};
use super::validate::Scope;

/// The proxy's access lists, `None` when it has no `http_access` key.
pub(crate) fn access(
    proxy: &model::Proxy,
    scope: &Scope<'_>,
) -> Result<Option<SquidAccess>, ScenarioError> {
    let Some(http_access) = &proxy.http_access else {
        return match proxy.acl.first() {
            Some(key) => Err(scope.invalid(
                &key.name,
                "an `acl` on a proxy without `http_access`".to_owned(),
                "http_access lines that use it",
            )),
            None => Ok(None),
        };
    };
    let mut acls: Vec<Acl> = Vec::new();
    for key in &proxy.acl {
        if acls.iter().any(|a| a.name == *key.name.get_ref()) {
            return Err(scope.invalid(
                &key.name,
                format!("ACL `{}` defined twice", key.name.get_ref()),
                "one [[proxy.acl]] per name (values of one ACL in one list)",
            ));
        }
        let kind = parse_acl(key.kind.get_ref(), &key.values)
            .map_err(|error| scope.invalid(&key.kind, error.to_string(), "a modelled ACL"))?;
        acls.push(Acl {
            name: key.name.get_ref().clone(),
            kind,
        });
    }
    let names: Vec<&str> = acls.iter().map(|a| a.name.as_str()).collect();
    let lines = |keys: &[AccessKey]| -> Result<Vec<AccessLine>, ScenarioError> {
        keys.iter()
            .map(|key| {
                let acls = key
                    .acls
                    .iter()
                    .map(|name| {
                        let (negated, bare) = match name.get_ref().strip_prefix('!') {
                            Some(bare) => (true, bare),
                            None => (false, name.get_ref().as_str()),
                        };
                        known(scope, name, bare, &names).map(|n| (negated, n))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(AccessLine {
                    allow: key.action == RuleActionKey::Allow,
                    acls,
                })
            })
            .collect()
    };
    let mut deny_info = Vec::new();
    for key in &proxy.deny_info {
        let acls = key
            .acls
            .iter()
            .map(|name| known(scope, name, name.get_ref(), &names))
            .collect::<Result<_, _>>()?;
        deny_info.push(DenyInfo {
            page: deny_page(scope, &key.page)?,
            acls,
        });
    }
    let needs_auth = acls.iter().any(|a| a.kind.is_proxy_auth());
    if needs_auth && proxy.auth.is_none() {
        return Err(scope.invalid(
            &proxy.name,
            "a proxy_auth ACL on a proxy without `auth`".to_owned(),
            "auth = { schemes = [...], users = {...} }",
        ));
    }
    Ok(Some(SquidAccess {
        http_access: lines(http_access)?,
        always_direct: lines(&proxy.always_direct)?,
        deny_info,
        acls,
    }))
}

fn known(
    scope: &Scope<'_>,
    at: &Spanned<String>,
    name: &str,
    names: &[&str],
) -> Result<String, ScenarioError> {
    if names.contains(&name) {
        Ok(name.to_owned())
    } else {
        Err(scope.unknown(at, "ACL", name, names))
    }
}

/// `ERR_NAME`, `TCP_RESET` or `3xx:URL`.
pub(crate) fn deny_page(
    scope: &Scope<'_>,
    page: &Spanned<String>,
) -> Result<DenyPage, ScenarioError> {
    parse_deny_page(page.get_ref()).ok_or_else(|| {
        scope.invalid(
            page,
            format!("deny_info page {:?}", page.get_ref()),
            "an error page name (ERR_...), TCP_RESET, or 301/302/303/307:URL",
        )
    })
}

/// A `deny_info` page word as squid.conf writes it, `None` when it is none of the forms.
pub fn parse_deny_page(text: &str) -> Option<DenyPage> {
    if text == "TCP_RESET" {
        return Some(DenyPage::Reset);
    }
    if let Some((status, url)) = text.split_once(':') {
        if let Ok(status @ (301 | 302 | 303 | 307)) = status.parse::<u16>() {
            return (!url.is_empty()).then(|| DenyPage::Redirect {
                status,
                url: url.to_owned(),
            });
        }
    }
    let page = text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !text.is_empty();
    page.then(|| DenyPage::Page(text.to_owned()))
}

#[cfg(test)]
mod tests {
    const HEAD: &str =
        "[scenario]\nname = \"s\"\nsummary = \"s\"\nseed = \"s\"\n[expect]\nhealthy = true\n\
                        [[proxy]]\nname = \"corp\"\n";

    fn error(proxy: &str) -> String {
        match crate::scenario::load_str("s.toml", &format!("{HEAD}{proxy}")) {
            Ok(_) => panic!("loaded:\n{proxy}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn bad_access_keys_name_their_line() {
        let unknown = error(
            "[[proxy.acl]]\nname = \"a\"\ntype = \"port\"\nvalues = [\"443\"]\n\
             [[proxy.http_access]]\naction = \"allow\"\nacls = [\"!b\"]\n",
        );
        assert!(unknown.starts_with("s.toml:15:"), "{unknown}");
        assert!(unknown.contains("unknown ACL `b`, expected"), "{unknown}");
        let value = error(
            "http_access = []\n[[proxy.acl]]\nname = \"a\"\ntype = \"port\"\nvalues = [\"https\"]\n",
        );
        assert!(value.starts_with("s.toml:12:"), "{value}");
        assert!(
            value.contains("\"https\" is not a valid port value"),
            "{value}"
        );
        let auth = error(
            "http_access = []\n[[proxy.acl]]\nname = \"u\"\ntype = \"proxy_auth\"\nvalues = [\"REQUIRED\"]\n",
        );
        assert!(
            auth.contains("a proxy_auth ACL on a proxy without `auth`"),
            "{auth}"
        );
        let page = error("http_access = []\n[[proxy.deny_info]]\npage = \"404:x\"\nacls = []\n");
        assert!(page.contains("TCP_RESET, or 301/302/303/307:URL"), "{page}");
    }
}
