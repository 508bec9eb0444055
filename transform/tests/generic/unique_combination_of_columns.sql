{#- No two rows share the values of `combination` (nulls equal to nulls, as group by treats them). -#}
{% test unique_combination_of_columns(model, combination) %}

select {{ combination | join(', ') }}, count(*) as rows_with_these_values
from {{ model }}
group by {{ combination | join(', ') }}
having count(*) > 1

{% endtest %}
