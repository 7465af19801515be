"""Server-rendered SVG charts for the admin: no scripts, no external assets."""

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from audit.selectors import DailyUsage

RESULT_CODES = {
    0: "success",
    1: "invalid request",
    2: "call not found",
    3: "more than one call",
    4: "invalid API key",
    5: "authentication failed",
    6: "access denied",
    7: "too many requests",
    9: "unavailable",
}
# Success green, client mistakes in warm tones, server trouble dark; readable on white.
_COLOURS = {
    0: "#2e7d32",
    1: "#f9a825",
    2: "#90a4ae",
    3: "#6d4c41",
    4: "#c62828",
    5: "#ad1457",
    6: "#6a1b9a",
    7: "#ef6c00",
    9: "#263238",
}

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 36


def code_label(code: int) -> str:
    return f"{code} – {RESULT_CODES.get(code, 'other')}"


def usage_chart_svg(usage: DailyUsage) -> SafeString:
    """Stacked bars: requests per day, one colour per result code, with a legend."""
    totals = usage.day_totals()
    peak = max(totals, default=0)
    scale_max = _nice_ceiling(peak)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(usage.days), 1)
    bar_w = max(slot * 0.75, 1)
    parts: list[str] = []
    # Horizontal grid lines with their values.
    for step in range(5):
        value = scale_max * step // 4
        y = TOP + plot_h - plot_h * step / 4
        parts.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#ddd"/>'
                '<text x="{}" y="{}" text-anchor="end" font-size="10">{}</text>',
                LEFT,
                _f(y),
                WIDTH - RIGHT,
                _f(y),
                LEFT - 4,
                _f(y + 3),
                value,
            )
        )
    for i, day in enumerate(usage.days):
        x = LEFT + i * slot + (slot - bar_w) / 2
        y_base: float = TOP + plot_h
        for code, counts in usage.by_code.items():
            n = counts[i]
            if not n:
                continue
            h = plot_h * n / scale_max
            y_base -= h
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{}: {} × code {}</title></rect>",
                    _f(x),
                    _f(y_base),
                    _f(bar_w),
                    _f(h),
                    _COLOURS.get(code, "#000"),
                    day.isoformat(),
                    n,
                    code_label(code),
                )
            )
        # A date under every seventh bar, counted back from today, keeps the axis legible.
        if (len(usage.days) - 1 - i) % 7 == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle" font-size="10">{}</text>',
                    _f(x + bar_w / 2),
                    TOP + plot_h + 14,
                    day.strftime("%m-%d"),
                )
            )
    legend_x = LEFT
    for code in usage.by_code:
        label = code_label(code)
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="10" height="10" fill="{}"/>'
                '<text x="{}" y="{}" font-size="10">{}</text>',
                legend_x,
                HEIGHT - 12,
                _COLOURS.get(code, "#000"),
                legend_x + 14,
                HEIGHT - 3,
                label,
            )
        )
        legend_x += 24 + 6 * len(label)
    title = (
        f"Requests per day, last {len(usage.days)} days: {usage.total} in total"
        if usage.total
        else f"No requests in the last {len(usage.days)} days"
    )
    return mark_safe(  # noqa: S308 - every value above went through format_html
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="usage-chart" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        # The admin's read-only cell is narrower than the chart: scale, never crop.
        f'style="max-width:100%;height:auto" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        f'stroke="#666"/>{"".join(parts)}</svg>'
    )


def _nice_ceiling(n: int) -> int:
    """The smallest of 4, 8, 20, 40, 80, 200, … that is at least n (grid lines at quarters)."""
    ceiling = 4
    while ceiling < n:
        for factor in (2, 5 / 2, 2):
            ceiling = int(ceiling * factor)
            if ceiling >= n:
                break
    return ceiling


def _f(value: float) -> str:
    return f"{value:.1f}"
