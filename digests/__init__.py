"""Daily digests, threshold alerts and campaign statistics: what the monitoring found, counted for a Beijing day or
a campaign period, rendered (HTML e-mail with inline charts, Markdown, JSON, Excel) and delivered over e-mail,
企业微信 and 钉钉 group robots. Imports only the domain, the store and the settings; app/ calls it."""
