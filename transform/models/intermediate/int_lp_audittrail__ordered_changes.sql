{#-
  Every change with its place in the one order all models follow (change_order). The API gives
  changes of one instant no order of their own, so within an instant the rule is: adds, then
  edits, then other actions, then deletes (an object is made, changed, then removed), then
  change_id, which is arbitrary but the same on every run. Every model orders by change_order
  alone, so no two of them can order an instant two ways. Also: the second of each change (the
  API's precision: changes sharing one are a tie, whatever fraction the server gives), and
  whether the change renames its object (var lp_audittrail_name_elements).
-#}

with changes as (

    select * from {{ ref('stg_lp_audittrail__changes') }}

)

select
    changes.*,
    row_number() over (
        order by
            changed_at,
            case action when 'add' then 1 when 'edit' then 2 when 'other' then 3 else 4 end,
            change_id
    ) as change_order,
    {{ dbt.date_trunc('second', 'changed_at') }} as changed_second,
    coalesce(
        is_field_change
        and action = 'edit'
        and lower(trim(element)) in {{ lp_audittrail_lower_list(var('lp_audittrail_name_elements')) }}
        and old_value <> ''
        and new_value <> ''
        and old_value <> new_value
        and (object_name = old_value or object_name = new_value),
        false
    ) as is_rename
from changes
