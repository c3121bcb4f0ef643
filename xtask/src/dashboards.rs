//! The Grafana dashboards (placeholder while being ported).
pub fn generate() -> Result<Vec<(String, String)>, String> {
    Ok(Vec::new())
}
