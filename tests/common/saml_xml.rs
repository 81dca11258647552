//! Reading SAML messages in the tests, independently of Sekisho's own SAML code: a small XML
//! parser with namespace resolution (enough for metadata, AuthnRequests, Responses and logout
//! messages), raw DEFLATE decoding (the HTTP-Redirect binding), and SAML's `xs:dateTime`.
//!
//! The parser is strict where it matters for the tests (one root, matching end tags, declared
//! prefixes, known entities) and ignores what SAML messages do not use (DTDs are refused).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// A node of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
    Comment(String),
}

/// An element, its name resolved against the namespace declarations in scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// As written, `prefix:local` or `local`.
    pub name: String,
    pub local: String,
    /// The namespace URI; `None` when no default namespace is in scope.
    pub namespace: Option<String>,
    /// Attributes as written (names with their prefixes, `xmlns` declarations included),
    /// values with references decoded.
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Node>,
}

impl Element {
    /// The value of the attribute written `name` (e.g. `ID`, `xsi:type`).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is(&self, namespace: &str, local: &str) -> bool {
        self.local == local && self.namespace.as_deref() == Some(namespace)
    }

    /// Child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The first child element `{namespace}local`.
    pub fn child(&self, namespace: &str, local: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(namespace, local))
    }

    /// Every descendant element `{namespace}local`, in document order (not `self`).
    pub fn descendants(&self, namespace: &str, local: &str) -> Vec<&Element> {
        let mut found = Vec::new();
        fn walk<'a>(e: &'a Element, ns: &str, local: &str, found: &mut Vec<&'a Element>) {
            for child in e.elements() {
                if child.is(ns, local) {
                    found.push(child);
                }
                walk(child, ns, local, found);
            }
        }
        walk(self, namespace, local, &mut found);
        found
    }

    /// The first descendant `{namespace}local`.
    pub fn find(&self, namespace: &str, local: &str) -> Option<&Element> {
        self.descendants(namespace, local).into_iter().next()
    }

    /// The text content (every descendant text node, comments left out), as the XPath
    /// string value.
    pub fn text(&self) -> String {
        let mut text = String::new();
        fn walk(e: &Element, text: &mut String) {
            for node in &e.children {
                match node {
                    Node::Text(t) => text.push_str(t),
                    Node::Element(child) => walk(child, text),
                    Node::Comment(_) => {}
                }
            }
        }
        walk(self, &mut text);
        text
    }
}

/// Parses a whole document: an optional XML declaration, comments and processing
/// instructions around exactly one root element.
pub fn parse(xml: &str) -> Result<Element, String> {
    let mut parser = Parser {
        text: xml,
        pos: 0,
        scopes: vec![BTreeMap::from([("xml".to_owned(), NS_XML.to_owned())])],
    };
    parser.misc()?;
    if !parser.rest().starts_with('<') {
        return Err(parser.error("expected the root element"));
    }
    let root = parser.element()?;
    parser.misc()?;
    if !parser.rest().is_empty() {
        return Err(parser.error("content after the root element"));
    }
    Ok(root)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    /// prefix ("" for the default namespace) → URI, one map per open element.
    scopes: Vec<BTreeMap<String, String>>,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn error(&self, what: &str) -> String {
        let line = self.text[..self.pos].matches('\n').count() + 1;
        let near: String = self.rest().chars().take(60).collect();
        format!(
            "XML: {what} at byte {} (line {line}) near {near:?}",
            self.pos
        )
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// Whitespace, comments, processing instructions (the XML declaration included).
    fn misc(&mut self) -> Result<(), String> {
        loop {
            self.skip_whitespace();
            if self.rest().starts_with("<?") {
                let end = self
                    .rest()
                    .find("?>")
                    .ok_or_else(|| self.error("unterminated processing instruction"))?;
                self.pos += end + 2;
            } else if self.rest().starts_with("<!--") {
                self.comment()?;
            } else if self.rest().starts_with("<!") {
                return Err(self.error("DTDs are not accepted"));
            } else {
                return Ok(());
            }
        }
    }

    fn comment(&mut self) -> Result<String, String> {
        let body = &self.rest()[4..];
        let end = body
            .find("-->")
            .ok_or_else(|| self.error("unterminated comment"))?;
        let comment = body[..end].to_owned();
        self.pos += 4 + end + 3;
        Ok(comment)
    }

    fn name(&mut self) -> Result<String, String> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| c.is_whitespace() || "=/>\"'<".contains(c))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error("expected a name"));
        }
        let name = rest[..len].to_owned();
        self.pos += len;
        Ok(name)
    }

    fn resolve(&self, prefix: &str) -> Option<String> {
        self.scopes
            .iter()
            .rev()
            .find_map(|scope| scope.get(prefix).cloned())
    }

    fn element(&mut self) -> Result<Element, String> {
        self.pos += 1; // '<'
        let name = self.name()?;
        let mut attributes = Vec::new();
        let empty = loop {
            self.skip_whitespace();
            let rest = self.rest();
            if rest.starts_with("/>") {
                self.pos += 2;
                break true;
            }
            if rest.starts_with('>') {
                self.pos += 1;
                break false;
            }
            let attribute = self.name()?;
            self.skip_whitespace();
            if !self.rest().starts_with('=') {
                return Err(self.error("expected `=` after an attribute name"));
            }
            self.pos += 1;
            self.skip_whitespace();
            let quote = self
                .rest()
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'')
                .ok_or_else(|| self.error("expected a quoted attribute value"))?;
            let body = &self.rest()[1..];
            let end = body
                .find(quote)
                .ok_or_else(|| self.error("unterminated attribute value"))?;
            let raw = &body[..end];
            if raw.contains('<') {
                return Err(self.error("`<` in an attribute value"));
            }
            let value = unescape(raw).map_err(|e| self.error(&e))?;
            self.pos += 1 + end + 1;
            if attributes.iter().any(|(n, _)| *n == attribute) {
                return Err(self.error(&format!("attribute {attribute} given twice")));
            }
            attributes.push((attribute, value));
        };

        let mut scope = BTreeMap::new();
        for (attribute, value) in &attributes {
            if attribute == "xmlns" {
                scope.insert(String::new(), value.clone());
            } else if let Some(prefix) = attribute.strip_prefix("xmlns:") {
                scope.insert(prefix.to_owned(), value.clone());
            }
        }
        self.scopes.push(scope);
        let (prefix, local) = name.split_once(':').unwrap_or(("", &name));
        let namespace = self.resolve(prefix).filter(|uri| !uri.is_empty());
        if !prefix.is_empty() && namespace.is_none() {
            return Err(self.error(&format!("undeclared prefix {prefix}: in <{name}>")));
        }
        for (attribute, _) in &attributes {
            if let Some((p, _)) = attribute.split_once(':')
                && p != "xmlns"
                && self.resolve(p).is_none()
            {
                return Err(self.error(&format!("undeclared prefix {p}: on attribute {attribute}")));
            }
        }
        let mut element = Element {
            local: local.to_owned(),
            namespace,
            name: name.clone(),
            attributes,
            children: Vec::new(),
        };
        if !empty {
            self.content(&mut element)?;
        }
        self.scopes.pop();
        Ok(element)
    }

    fn content(&mut self, element: &mut Element) -> Result<(), String> {
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return Err(self.error(&format!("<{}> is never closed", element.name)));
            }
            if let Some(after) = rest.strip_prefix("</") {
                let len = after
                    .find('>')
                    .ok_or_else(|| self.error("unterminated end tag"))?;
                let closing = after[..len].trim_end();
                if closing != element.name {
                    return Err(self.error(&format!("</{closing}> closes <{}>", element.name)));
                }
                self.pos += 2 + len + 1;
                return Ok(());
            }
            if rest.starts_with("<!--") {
                let comment = self.comment()?;
                element.children.push(Node::Comment(comment));
            } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
                let end = after
                    .find("]]>")
                    .ok_or_else(|| self.error("unterminated CDATA section"))?;
                push_text(element, after[..end].to_owned());
                self.pos += 9 + end + 3;
            } else if rest.starts_with("<?") {
                let end = rest
                    .find("?>")
                    .ok_or_else(|| self.error("unterminated processing instruction"))?;
                self.pos += end + 2;
            } else if rest.starts_with("<!") {
                return Err(self.error("unexpected markup declaration"));
            } else if rest.starts_with('<') {
                let child = self.element()?;
                element.children.push(Node::Element(child));
            } else {
                let end = rest.find('<').unwrap_or(rest.len());
                let text = unescape(&rest[..end]).map_err(|e| self.error(&e))?;
                push_text(element, text);
                self.pos += end;
            }
        }
    }
}

fn push_text(element: &mut Element, text: String) {
    if let Some(Node::Text(last)) = element.children.last_mut() {
        last.push_str(&text);
    } else {
        element.children.push(Node::Text(text));
    }
}

/// Decodes the five predefined entities and character references.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after
            .find(';')
            .ok_or_else(|| format!("unterminated reference in {raw:?}"))?;
        let entity = &after[..semi];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32)
                .ok_or_else(|| format!("unknown reference &{entity};"))?,
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The bindings

/// The XML of a SAML message sent with the HTTP-Redirect binding: parameter `param`
/// (`SAMLRequest` or `SAMLResponse`) of `url`, base64-decoded and inflated.
pub fn redirect_message(url: &url::Url, param: &str) -> Result<String, String> {
    let value = url
        .query_pairs()
        .find(|(name, _)| name == param)
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| format!("no {param} in {url}"))?;
    let compressed = STANDARD
        .decode(value.as_bytes())
        .map_err(|e| format!("{param} is not base64 ({e}): {value}"))?;
    let xml = inflate(&compressed).map_err(|e| format!("{param} does not inflate: {e}"))?;
    String::from_utf8(xml).map_err(|e| format!("{param} is not UTF-8: {e}"))
}

/// The XML of a SAML message sent with the HTTP-POST binding (plain base64).
pub fn post_message(base64: &str) -> Result<String, String> {
    let bytes = STANDARD
        .decode(base64.split_whitespace().collect::<String>())
        .map_err(|e| format!("not base64: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))
}

/// Raw DEFLATE (RFC 1951), as the HTTP-Redirect binding carries it.
pub fn inflate(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut bits = Bits {
        data,
        pos: 0,
        buf: 0,
        count: 0,
    };
    let mut out = Vec::new();
    loop {
        let last = bits.take(1)? == 1;
        match bits.take(2)? {
            0 => {
                bits.buf = 0;
                bits.count = 0;
                let header = data
                    .get(bits.pos..bits.pos + 4)
                    .ok_or("truncated stored block header")?;
                let len = u16::from_le_bytes([header[0], header[1]]);
                let nlen = u16::from_le_bytes([header[2], header[3]]);
                if len != !nlen {
                    return Err("stored block length does not match its complement".into());
                }
                bits.pos += 4;
                let block = data
                    .get(bits.pos..bits.pos + usize::from(len))
                    .ok_or("truncated stored block")?;
                out.extend_from_slice(block);
                bits.pos += usize::from(len);
            }
            1 => {
                let mut lengths = [0u8; 288];
                lengths[..144].fill(8);
                lengths[144..256].fill(9);
                lengths[256..280].fill(7);
                lengths[280..].fill(8);
                let literals = Huffman::new(&lengths)?;
                let distances = Huffman::new(&[5u8; 30])?;
                codes(&mut bits, &mut out, &literals, &distances)?;
            }
            2 => {
                let nlen = bits.take(5)? as usize + 257;
                let ndist = bits.take(5)? as usize + 1;
                let ncode = bits.take(4)? as usize + 4;
                const ORDER: [usize; 19] = [
                    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
                ];
                let mut code_lengths = [0u8; 19];
                for &i in &ORDER[..ncode] {
                    code_lengths[i] = bits.take(3)? as u8;
                }
                let code_code = Huffman::new(&code_lengths)?;
                let mut lengths = vec![0u8; nlen + ndist];
                let mut i = 0;
                while i < nlen + ndist {
                    let symbol = code_code.decode(&mut bits)?;
                    let (value, repeat) = match symbol {
                        0..=15 => (symbol as u8, 1),
                        16 => {
                            let previous = *lengths[..i]
                                .last()
                                .ok_or("repeat with no previous length")?;
                            (previous, 3 + bits.take(2)? as usize)
                        }
                        17 => (0, 3 + bits.take(3)? as usize),
                        _ => (0, 11 + bits.take(7)? as usize),
                    };
                    if i + repeat > nlen + ndist {
                        return Err("too many code lengths".into());
                    }
                    lengths[i..i + repeat].fill(value);
                    i += repeat;
                }
                let literals = Huffman::new(&lengths[..nlen])?;
                let distances = Huffman::new(&lengths[nlen..])?;
                codes(&mut bits, &mut out, &literals, &distances)?;
            }
            _ => return Err("invalid block type 3".into()),
        }
        if last {
            return Ok(out);
        }
    }
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    count: u32,
}

impl Bits<'_> {
    fn take(&mut self, n: u32) -> Result<u32, String> {
        while self.count < n {
            let byte = *self.data.get(self.pos).ok_or("truncated DEFLATE data")?;
            self.pos += 1;
            self.buf |= u64::from(byte) << self.count;
            self.count += 8;
        }
        let value = (self.buf & ((1u64 << n) - 1)) as u32;
        self.buf >>= n;
        self.count -= n;
        Ok(value)
    }
}

/// A canonical Huffman code: how many codes of each length, and the symbols in code order.
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Result<Self, String> {
        let mut counts = [0u16; 16];
        for &len in lengths {
            counts[usize::from(len)] += 1;
        }
        counts[0] = 0;
        let mut offsets = [0u16; 16];
        for len in 1..15 {
            offsets[len + 1] = offsets[len] + counts[len];
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (symbol, &len) in lengths.iter().enumerate() {
            if len != 0 {
                symbols[usize::from(offsets[usize::from(len)])] = symbol as u16;
                offsets[usize::from(len)] += 1;
            }
        }
        Ok(Self { counts, symbols })
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Result<u16, String> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= bits.take(1)? as i32;
            let count = i32::from(self.counts[len]);
            if code - count < first {
                return Ok(self.symbols[(index + (code - first)) as usize]);
            }
            index += count;
            first += count;
            first <<= 1;
            code <<= 1;
        }
        Err("invalid Huffman code".into())
    }
}

fn codes(
    bits: &mut Bits<'_>,
    out: &mut Vec<u8>,
    literals: &Huffman,
    distances: &Huffman,
) -> Result<(), String> {
    const LENGTH_BASE: [u16; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    const LENGTH_EXTRA: [u32; 29] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ];
    const DIST_BASE: [u16; 30] = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ];
    const DIST_EXTRA: [u32; 30] = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13, 13,
    ];
    loop {
        let symbol = literals.decode(bits)?;
        match symbol {
            0..=255 => out.push(symbol as u8),
            256 => return Ok(()),
            _ => {
                let i = usize::from(symbol - 257);
                let len = usize::from(*LENGTH_BASE.get(i).ok_or("invalid length symbol")?)
                    + bits.take(LENGTH_EXTRA[i])? as usize;
                let d = usize::from(distances.decode(bits)?);
                let dist = usize::from(*DIST_BASE.get(d).ok_or("invalid distance symbol")?)
                    + bits.take(DIST_EXTRA[d])? as usize;
                if dist > out.len() {
                    return Err("distance beyond the start of the output".into());
                }
                let start = out.len() - dist;
                for k in 0..len {
                    out.push(out[start + k]);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Time

/// `YYYY-MM-DDThh:mm:ssZ` for now + `offset_seconds` (negative: in the past), UTC.
pub fn xml_time(offset_seconds: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    format_time(now + offset_seconds)
}

/// Seconds since the epoch as `YYYY-MM-DDThh:mm:ssZ`.
pub fn format_time(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses `YYYY-MM-DDThh:mm:ss[.fff]Z` into a time.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let time = time.split('.').next()?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + m * 60 + s;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaces_text_and_comments() {
        let doc = parse(
            r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="a&amp;b">
  <md:SPSSODescriptor><x xmlns="urn:x">al<!-- c -->ice &lt;3</x></md:SPSSODescriptor>
</md:EntityDescriptor>"#,
        )
        .unwrap();
        assert!(doc.is(NS_METADATA, "EntityDescriptor"));
        assert_eq!(doc.attr("entityID"), Some("a&b"));
        let x = doc.find("urn:x", "x").unwrap();
        assert_eq!(x.text(), "alice <3");
        assert!(parse("<a><b></a></b>").is_err());
        assert!(parse("<p:a/>").is_err());
        assert!(parse("<a/><b/>").is_err());
    }

    #[test]
    fn inflates_fixed_dynamic_and_stored_blocks() {
        // zlib.compressobj(9, DEFLATED, -15) of "hello hello hello hello SAML" (a fixed
        // Huffman block with back-references) and of a small AuthnRequest (a dynamic one).
        let fixed = [
            0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0xc8, 0xc0, 0x20, 0x83, 0x1d, 0x7d, 0x7d, 0x00,
        ];
        assert_eq!(
            String::from_utf8(inflate(&fixed).unwrap()).unwrap(),
            "hello hello hello hello SAML"
        );
        let dynamic = [
            0x7d, 0x8f, 0xc1, 0x0a, 0x83, 0x40, 0x0c, 0x44, 0x7f, 0x45, 0xf2, 0x01, 0xae, 0x7a,
            0x29, 0x04, 0x5d, 0x10, 0x7a, 0x11, 0xec, 0xa5, 0x85, 0x5e, 0x4b, 0x6a, 0x03, 0x0a,
            0xee, 0xae, 0xdd, 0x64, 0xa1, 0x9f, 0x5f, 0x6d, 0x2f, 0xf6, 0x52, 0xe6, 0x34, 0x64,
            0xe6, 0x85, 0xa9, 0x85, 0xdc, 0xbc, 0x60, 0x9b, 0x74, 0xf4, 0x67, 0x7e, 0x26, 0x16,
            0xcd, 0x5e, 0x6e, 0xf6, 0x82, 0x9f, 0x43, 0x03, 0x29, 0x7a, 0x0c, 0x24, 0x93, 0xa0,
            0x27, 0xc7, 0x82, 0x3a, 0xe0, 0xa5, 0x3d, 0xf5, 0x58, 0xe5, 0x05, 0x2e, 0x31, 0x68,
            0x18, 0xc2, 0x0c, 0x59, 0x77, 0x6c, 0xe0, 0x46, 0xf7, 0x01, 0xb2, 0x2b, 0x47, 0x99,
            0x82, 0x6f, 0x60, 0x0d, 0x80, 0xad, 0x37, 0x0a, 0x76, 0x22, 0x89, 0xe3, 0x8e, 0xfb,
            0x1f, 0x4b, 0x22, 0x1c, 0x75, 0x85, 0x80, 0x1d, 0x55, 0x17, 0x34, 0xa6, 0xac, 0x0e,
            0x79, 0xb1, 0xaa, 0xc4, 0xd2, 0x6c, 0x7d, 0xe3, 0x58, 0xe9, 0x41, 0x4a, 0xb5, 0xd9,
            0x3d, 0xb0, 0x5f, 0xf7, 0xbb, 0xc6, 0xbe, 0x01,
        ];
        assert_eq!(
            String::from_utf8(inflate(&dynamic).unwrap()).unwrap(),
            "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_abc\" \
             Version=\"2.0\"><saml:Issuer xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\">\
             http://127.0.0.1:1/saml/metadata</saml:Issuer></samlp:AuthnRequest>"
        );
        let stored = [0x01, 0x03, 0x00, 0xfc, 0xff, b'a', b'b', b'c'];
        assert_eq!(inflate(&stored).unwrap(), b"abc");
    }

    #[test]
    fn formats_and_parses_times() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_795_458_097), "2026-11-23T18:21:37Z");
        assert_eq!(
            parse_time("2026-11-23T18:21:37Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_795_458_097))
        );
        assert_eq!(
            parse_time("2026-11-23T18:21:37.123Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_795_458_097))
        );
    }
}
