package compare

// ChartDataOf exposes the chart's data to the tests.
var ChartDataOf = chartDataOf
