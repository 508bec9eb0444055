{#- The column is never earlier than `other` (where both are set): an interval that ends before it starts. -#}
{% test not_before(model, column_name, other) %}

select *
from {{ model }}
where {{ column_name }} < {{ other }}

{% endtest %}
