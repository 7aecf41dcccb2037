/** The report's inline stylesheet: system fonts only, nothing fetched. */

export const reportStyles = `
:root { --fg:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bg:#f8fafc; --card:#fff; --good:#047857; --bad:#b91c1c; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
main { max-width:1180px; margin:0 auto; padding:28px 24px 48px; }
h1 { font-size:24px; margin:0 0 4px; letter-spacing:-0.01em; }
h2 { font-size:17px; margin:32px 0 12px; padding-bottom:6px; border-bottom:1px solid var(--line); }
h3 { font-size:14px; margin:0 0 8px; }
.subtitle { color:var(--muted); margin:0 0 14px; }
pre.command { background:#0f172a; color:#e2e8f0; padding:10px 14px; border-radius:8px; overflow-x:auto; font:12.5px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; white-space:pre-wrap; word-break:break-all; margin:0; }
.banner { border-radius:8px; padding:10px 14px; margin:16px 0; border:1px solid; }
.banner.synthetic { background:#fffbeb; border-color:#f59e0b; color:#78350f; }
.banner.failed { background:#fef2f2; border-color:#fca5a5; color:#7f1d1d; }
.banner strong { margin-right:6px; }
.configs { display:grid; grid-template-columns:repeat(auto-fill,minmax(270px,1fr)); gap:12px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px; }
.card .name { font-weight:600; display:flex; align-items:center; gap:8px; }
.card .badges { display:flex; flex-wrap:wrap; gap:4px; margin-top:6px; }
.card dl { display:grid; grid-template-columns:auto 1fr; gap:2px 10px; margin:8px 0 0; font-size:13px; }
.card dt { color:var(--muted); }
.card dd { margin:0; overflow-wrap:anywhere; }
.swatch { display:inline-block; width:12px; height:12px; border-radius:3px; flex:none; }
.badge { font-size:11px; font-weight:600; padding:1px 7px; border-radius:999px; text-transform:uppercase; letter-spacing:0.04em; }
.badge.ok { background:#ecfdf5; color:var(--good); }
.badge.failed { background:#fef2f2; color:var(--bad); }
.badge.synthetic { background:#fffbeb; color:#92400e; }
.badge.reference { background:#eff6ff; color:var(--accent); }
.error { color:var(--bad); font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12.5px; margin-top:8px; overflow-wrap:anywhere; }
table { border-collapse:collapse; width:100%; background:var(--card); border:1px solid var(--line); border-radius:10px; overflow:hidden; }
th, td { padding:6px 12px; text-align:right; border-bottom:1px solid var(--line); white-space:nowrap; }
th:first-child, td:first-child { text-align:left; white-space:normal; }
thead th { background:#f1f5f9; font-size:12.5px; color:#334155; }
tr.group td { background:#f8fafc; font-weight:600; color:#475569; font-size:12px; text-transform:uppercase; letter-spacing:0.05em; text-align:left; }
td.better { color:var(--good); font-weight:600; }
td.worse { color:var(--bad); font-weight:600; }
td.neutral { color:var(--muted); }
td.missing { color:#9ca3af; }
td.not-meaningful { color:#9ca3af; font-style:italic; }
td.not-meaningful sup { color:#b45309; font-style:normal; margin-left:1px; }
.footnote { color:#92400e; font-size:12.5px; margin:6px 2px 0; }
.direction { color:#9ca3af; font-size:11px; margin-left:4px; }
.legend-row { display:flex; flex-wrap:wrap; gap:14px; margin:0 0 12px; font-size:13px; }
.legend-row span { display:inline-flex; align-items:center; gap:6px; }
.charts { display:grid; grid-template-columns:repeat(auto-fit,minmax(480px,1fr)); gap:16px; }
figure { margin:0; background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 12px 6px; }
figcaption { font-weight:600; margin:0 0 2px 4px; }
figcaption small { display:block; font-weight:400; color:var(--muted); font-size:12px; }
svg.chart { width:100%; height:auto; display:block; font-family:inherit; }
svg .grid { stroke:#eef2f7; stroke-width:1; }
svg .axis { stroke:#94a3b8; stroke-width:1; }
svg .tick { fill:#64748b; font-size:11px; }
svg .axis-title { fill:#475569; font-size:12px; }
svg .bar-label { fill:#334155; font-size:11px; font-weight:600; }
svg .legend-text { fill:#475569; font-size:11px; }
svg .no-data { fill:#9ca3af; font-size:13px; }
svg .error-bar { stroke:#111827; stroke-width:1.4; fill:none; }
svg .threshold { stroke:#b91c1c; stroke-width:1.2; stroke-dasharray:5 4; }
svg .threshold-label { fill:#b91c1c; font-size:11px; }
svg .whisker { stroke-width:1.4; }
.quality { display:grid; grid-template-columns:repeat(auto-fill,minmax(420px,1fr)); gap:12px; align-items:start; }
.quality table { font-size:13px; }
.quality th, .quality td { white-space:normal; padding:5px 8px; }
.note { color:#92400e; font-size:12.5px; margin:6px 0 0; }
footer { margin-top:36px; color:var(--muted); font-size:12px; }
`;
